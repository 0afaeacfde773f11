// Reads the two facts about a WebAssembly module that the bundle's tier-up
// flag depends on (src/sidecars/node-flags.ts): the function index of an
// export, and how many function indices imports take.

function reader(bytes) {
  let i = 8; // magic and version
  const u32 = () => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++];
      r |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return r >>> 0;
      shift += 7;
    }
  };
  const name = () => {
    const n = u32();
    const s = Buffer.from(bytes.subarray(i, i + n)).toString('utf8');
    i += n;
    return s;
  };
  return { u32, name, at: () => i, seek: (p) => (i = p), byte: () => bytes[i++], done: () => i >= bytes.length };
}

function sections(bytes) {
  const r = reader(bytes);
  const out = [];
  while (!r.done()) {
    const id = r.byte();
    const size = r.u32();
    out.push({ id, start: r.at(), end: r.at() + size });
    r.seek(r.at() + size);
  }
  return { r, out };
}

/** Function indices taken by imported functions (they come before the module's own). */
export function importedFunctionCount(bytes) {
  const { r, out } = sections(bytes);
  const imp = out.find((s) => s.id === 2);
  if (!imp) return 0;
  r.seek(imp.start);
  let count = 0;
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0) {
      r.u32();
      count++;
    } else if (kind === 1) {
      r.byte();
      const flags = r.u32();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 2) {
      const flags = r.u32();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 3) {
      r.byte();
      r.byte();
    } else throw new Error(`unknown import kind ${kind}`);
  }
  return count;
}

/** The function index of the export `name`. */
export function exportedFunctionIndex(bytes, name) {
  const { r, out } = sections(bytes);
  const exp = out.find((s) => s.id === 7);
  if (exp) {
    r.seek(exp.start);
    for (let n = r.u32(); n > 0; n--) {
      const nm = r.name();
      const kind = r.byte();
      const index = r.u32();
      if (nm === name && kind === 0) return index;
    }
  }
  throw new Error(`the module exports no function ${name}`);
}

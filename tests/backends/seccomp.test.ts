import { describe, expect, it } from 'vitest';
import { DENIED_SYSCALLS_X86_64, seccompExecPrefix, seccompProgram } from '../../src/containment/seccomp.js';

/** A tiny classic-BPF interpreter, enough to check the jumps of our filter. */
function run(prog: Buffer, nr: number, arch = 0xc000003e, arg1 = 0): number {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  data.writeUInt32LE(arg1, 24);
  let acc = 0;
  for (let pc = 0; pc < prog.length / 8; ) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) acc = data.readUInt32LE(k);
    else if (code === 0x06) return k;
    else if (code === 0x15) pc += acc === k ? jt : jf;
    else if (code === 0x35) pc += acc >= k ? jt : jf;
    else throw new Error(`unknown opcode ${code}`);
    pc += 1;
  }
  throw new Error('fell off the end');
}

describe('seccomp filter', () => {
  const prog = seccompProgram('x64');
  it('is built for x86_64 only', () => {
    expect(prog).toBeInstanceOf(Buffer);
    expect(seccompProgram('arm64')).toBeUndefined();
  });

  it('denies every listed syscall with EPERM and allows others', () => {
    for (const [name, nr] of Object.entries(DENIED_SYSCALLS_X86_64)) expect(run(prog!, nr), name).toBe(0x00050001);
    for (const nr of [0, 1, 2, 3, 9, 56, 57, 59, 231, 257, 435]) expect(run(prog!, nr)).toBe(0x7fff0000);
  });

  it('denies terminal injection ioctls only', () => {
    expect(run(prog!, 16, 0xc000003e, 0x5412)).toBe(0x00050001);
    expect(run(prog!, 16, 0xc000003e, 0x541c)).toBe(0x00050001);
    expect(run(prog!, 16, 0xc000003e, 0x5401)).toBe(0x7fff0000);
  });

  it('kills other ABIs (i386, x32) so the list cannot be sidestepped', () => {
    expect(run(prog!, 101, 0x40000003)).toBe(0x80000000);
    expect(run(prog!, 0x40000000 + 101)).toBe(0x80000000);
  });
});

describe('seccompExecPrefix', () => {
  it('runs a command under the same filter through perl, and is empty where there is no filter', () => {
    const prefix = seccompExecPrefix('x64');
    expect(prefix.slice(0, 2)).toEqual(['/usr/bin/perl', '-e']);
    expect(prefix[3]).toBe(seccompProgram('x64')!.toString('hex'));
    expect(prefix.at(-1)).toBe('--');
    expect(seccompExecPrefix('arm64')).toEqual([]);
  });
});

import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { PROBE_SPEC_VERSION, type Endpoint, type Outcome, type ProbeReport, type ProbeSpec, type ProbeSpecEarly, type ProbeSpecLate, type Proto } from './spec.js';

/**
 * The in-bottle half of the containment self-test: observe, never decide.
 * Everything here is what a process inside can see or reach; it trusts
 * nothing about how the boundary was built (no look at the sandbox tool's
 * flags), so a tool that silently drops a namespace shows up as what leaks.
 * Only node built-ins, so the probe bundle is small and starts fast.
 */
export async function observe(early: ProbeSpecEarly, late: Promise<ProbeSpecLate> | ProbeSpecLate): Promise<ProbeReport> {
  const timings: Record<string, number> = { start: now() };
  const timed = async <T>(name: string, p: Promise<T>): Promise<T> => {
    const value = await p;
    timings[name] = now();
    return value;
  };
  // What needs no bundle: the network as the bottle sees it, what it can reach, who it is, what runs beside it.
  const ms = early.limits.attemptMs;
  const reach = (): Promise<[ProbeReport['attempts'], ProbeReport['dns'] | undefined]> =>
    Promise.all([
      timed('attempts', Promise.all(early.canaries.map(async (c) => ({ ...c, outcome: await attempt(c.proto, c.host, c.port, ms) })))),
      early.dnsName === undefined ? undefined : timed('dns', resolves(early.dnsName, ms * 2)),
    ]);
  let sockets: Omit<ProbeReport['network'], 'notListening'>;
  let notListening: Promise<Endpoint[]>;
  let attempts: ProbeReport['attempts'];
  let dns: ProbeReport['dns'] | undefined;
  if (early.endpointsRemote === true) {
    // The bundle listens in another machine or container, so nothing of it shows in this one's sockets:
    // snapshot them first (before this process opens any of its own), and run the attempts while the bundle starts.
    sockets = readNetwork();
    notListening = timed('listening', waitForConnect(early.endpoints, 5_000));
    [attempts, dns] = await reach();
  } else {
    // The attempts and the lookup overlap the wait for the forwarders. The sockets are read after both:
    // every socket this process opened for them is closed by then (a lookup that timed out may still hold
    // glibc's, which is connected from its creation and so never shows as listening).
    const reaching = reach();
    notListening = Promise.resolve(await timed('listening', waitForListeners(early.endpoints, 5_000)));
    [attempts, dns] = await reaching;
    sockets = readNetwork();
  }
  // Then what needs the bundle: egress and its CA. A late line already here starts those checks before the
  // synchronous reads below, so egress's work (a leaf minted, a refusal) overlaps them.
  const checking = Promise.resolve(late).then((l) => {
    timings['ca sent'] = now();
    const spec: ProbeSpec = { ...early, ca: { ...early.ca, der: l.caDer } };
    return Promise.all([timed('proxy', proxyRefuses(spec.proxy, spec.unroutedHost, ms * 6)), timed('ca', caTrusted(spec.ca, spec.proxy, ms * 6))]);
  });
  await new Promise((resolve) => setImmediate(resolve));
  // Who the probe is, what runs beside it and the files it can read; read while the bundle answers (none of the
  // checks' limits is near what these reads take).
  const { self, processes, texts, truncated } = readInside(early);
  timings.read = now();
  const [proxy, { ca, read }] = await checking;
  const network: ProbeReport['network'] = { ...sockets, notListening: await notListening };
  texts.push(...read.map((t) => ({ source: t.source, data: Buffer.from(t.text, 'utf8').toString('base64') })));
  return {
    version: PROBE_SPEC_VERSION,
    network,
    attempts,
    ...(dns ? { dns } : {}),
    proxy,
    ca,
    self,
    processes,
    texts,
    ...(truncated !== undefined ? { truncated } : {}),
    ms: now(),
    timings,
  };
}

/** Who the probe is, what runs beside it and the files it can read (every one but the two CA files, read once filled). */
function readInside(early: ProbeSpecEarly): { self: ProbeReport['self']; processes: ProbeReport['processes']; texts: ProbeReport['texts']; truncated?: string } {
  const self = readSelf();
  const { processes, texts: procTexts } = readProcesses();
  const caFiles = [early.ca.bundlePath, early.ca.filePath];
  const files = readFiles(early.scanDirs, early.limits, procTexts.reduce((n, t) => n + t.data.length, 0), caFiles);
  return { self, processes, texts: [...procTexts, ...files.texts].map((t) => ({ source: t.source, data: t.data.toString('base64') })), ...(files.truncated ? { truncated: files.truncated } : {}) };
}

/** Milliseconds since this process started (node's start-up included). */
function now(): number {
  return Math.round(performance.now());
}

export function attempt(proto: Proto, host: string, port: number, ms: number): Promise<Outcome> {
  return proto === 'tcp' ? tcpAttempt(host, port, ms) : udpAttempt(host, port, ms);
}

function tcpAttempt(host: string, port: number, ms: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = (outcome: Outcome): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('timeout'), ms);
    s.once('connect', () => done('connected'));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/**
 * A datagram to the canary, which echoes it. Inside a sealed network the
 * kernel answers at once (ICMP port unreachable → ECONNREFUSED, or no route
 * → ENETUNREACH); silence is a timeout, and the launcher's canary also
 * records whatever reached it, so silence alone never passes a leak.
 */
function udpAttempt(host: string, port: number, ms: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    let settled = false;
    const done = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.close();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('timeout'), ms);
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('message', () => done('answered'));
    s.connect(port, host, (err?: NodeJS.ErrnoException) => {
      if (err) return done(err.code ?? err.message);
      s.send('bot-bottle containment probe', (e?: NodeJS.ErrnoException | null) => {
        if (e) done(e.code ?? e.message);
      });
    });
  });
}

async function resolves(name: string, ms: number): Promise<{ name: string; outcome: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const outcome = await Promise.race([
    lookup(name).then(
      () => 'resolved',
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    ),
    timeout,
  ]);
  clearTimeout(timer);
  return { name, outcome };
}

/**
 * CONNECT through the proxy on a plain socket. Written out rather than with
 * node:http, whose loading is the largest part of the probe's start-up after
 * node's own; a CONNECT and its status line are all this needs. Resolves with
 * the status and the socket (whatever followed the headers unshifted back).
 */
function tunnel(proxy: Endpoint, target: Endpoint, ms: number, request = `CONNECT ${target.host}:${target.port} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\n\r\n`): Promise<{ status: number; socket: Socket } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: proxy.host, port: proxy.port });
    let head = Buffer.alloc(0);
    const done = (r: { status: number; socket: Socket } | { error: string }): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      if ('error' in r) socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: 'timeout' }), ms);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16_384) done({ error: 'response headers over 16 KB' });
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head.subarray(0, end).toString('latin1'));
      if (!status) return done({ error: `not an HTTP response: ${JSON.stringify(head.subarray(0, 40).toString('latin1'))}` });
      socket.pause();
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
      done({ status: Number(status[1]), socket });
    };
    socket.on('data', onData);
    socket.once('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
    socket.once('connect', () => socket.write(request));
  });
}

/**
 * A request for a host no route matches: egress must refuse it with its own
 * block, whose body names the stage. Plain HTTP in absolute form: egress
 * accepts every well-formed CONNECT and answers an unrouted HTTPS host inside
 * TLS, through the same stages, so a CONNECT's 200 proves nothing here and the
 * plain request reaches the same route stage without a handshake.
 */
async function proxyRefuses(proxy: Endpoint, host: string, ms: number): Promise<ProbeReport['proxy']> {
  const t = await tunnel(proxy, { host, port: 80 }, ms, `GET http://${host}/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  if ('error' in t) return { status: null, blockStage: null, error: t.error };
  const { status, socket } = t;
  if (status === 200) {
    socket.destroy();
    return { status, blockStage: null };
  }
  const body = await new Promise<string>((resolve) => {
    let text = '';
    const timer = setTimeout(() => finish(), ms);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    };
    socket.on('data', (chunk: Buffer) => {
      if (text.length < 4_096) text += chunk.toString('utf8');
    });
    socket.once('end', finish);
    socket.once('error', finish);
    socket.resume();
  });
  return { status, blockStage: /^stage: (\S+)$/m.exec(body)?.[1] ?? null };
}

/**
 * Is the bottle CA in the guest's trust store, and does that store verify a
 * leaf egress mints? The verification is a real TLS handshake through the
 * proxy with the CA block found in the guest bundle as the only anchor: the
 * block holds the same bytes the bundle does, and node then parses one
 * certificate instead of ~150 roots (~30 ms). The launcher starts the probe
 * with OpenSSL's default store pointed at nothing (PROBE_NODE_ARGS/ENV), so
 * no other root is loaded or trusted.
 */
/** Also returns the two trust files it read, for the secrets check (the file walk leaves them out). */
async function caTrusted(ca: ProbeSpec['ca'], proxy: Endpoint, ms: number): Promise<{ ca: ProbeReport['ca']; read: Array<{ source: string; text: string }> }> {
  // The tunnel is opened first: egress minting the leaf overlaps reading the trust store.
  const opening = ca.leafFor ? tunnel(proxy, ca.leafFor, ms) : undefined;
  const read = [ca.bundlePath, ca.filePath].map((source) => ({ source, text: readText(source) }));
  const block = pemBlocks(read[0]?.text ?? '').find((b) => derOf(b) === ca.der);
  const fileMatches = pemBlocks(read[1]?.text ?? '').some((b) => derOf(b) === ca.der);
  if (!block || !opening) {
    void opening?.then((t) => 'socket' in t && t.socket.destroy());
    return { ca: { inBundle: block !== undefined, fileMatches, handshake: 'not-tried' }, read };
  }
  return { ca: { inBundle: true, fileMatches, handshake: await handshake(await opening, ca.leafFor?.host ?? '', block, ms) }, read };
}

async function handshake(t: Awaited<ReturnType<typeof tunnel>>, servername: string, anchor: string, ms: number): Promise<string> {
  if ('error' in t) return t.error;
  if (t.status !== 200) {
    t.socket.destroy();
    return `CONNECT answered ${t.status}`;
  }
  const raw = t.socket;
  return new Promise((resolve) => {
    const timer = setTimeout(() => done('timeout'), ms);
    const done = (outcome: string): void => {
      clearTimeout(timer);
      tls.destroy();
      raw.destroy();
      resolve(outcome);
    };
    const tls = tlsConnect({ socket: raw, servername, ca: [anchor], ALPNProtocols: ['http/1.1'] });
    tls.once('secureConnect', () => done('verified'));
    tls.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** A PEM certificate's base64 body, without armour or line breaks. */
function derOf(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----|\s/g, '');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * A regular file's bytes: `size` of them as fstat saw it (no read just to meet the end), or, for a file that says
 * it is empty (a pseudo-file), whatever one read of 64 kB returns.
 */
function readOpen(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size === 0 ? 65_536 : size);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, null);
    if (n === 0) break;
    off += n;
    if (size === 0) break;
  }
  return buf.subarray(0, off);
}

/** Poll (bounded) until every endpoint listens: the forwarders start beside the probe. */
async function waitForListeners(endpoints: Endpoint[], limitMs: number): Promise<Endpoint[]> {
  const until = Date.now() + limitMs;
  for (;;) {
    const listening = tcpListeners();
    const missing = endpoints.filter((e) => !listening.some((l) => l.host === e.host && l.port === e.port));
    if (missing.length === 0 || Date.now() > until) return missing;
    await new Promise((r) => setTimeout(r, 3));
  }
}

/** Poll (bounded) until every remote endpoint accepts a connection: the bundle starts beside the probe. */
async function waitForConnect(endpoints: Endpoint[], limitMs: number): Promise<Endpoint[]> {
  const until = Date.now() + limitMs;
  let missing = endpoints;
  for (;;) {
    const outcomes = await Promise.all(missing.map(async (e) => ({ e, outcome: await tcpAttempt(e.host, e.port, 500) })));
    missing = outcomes.filter((o) => o.outcome !== 'connected').map((o) => o.e);
    if (missing.length === 0 || Date.now() > until) return missing;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** TCP sockets in LISTEN state (the poll above reads only these two small files). */
function tcpListeners(): Endpoint[] {
  const out: Endpoint[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readText(file).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[3] === '0A' ? parseAddress(f[1] ?? '') : undefined;
      if (local) out.push(local);
    }
  }
  return out;
}

export function readNetwork(): Omit<ProbeReport['network'], 'notListening'> {
  const lines = (path: string): string[] => readText(path).split('\n').slice(1).map((l) => l.trim()).filter((l) => l.length > 0);
  const interfaces = readText('/proc/net/dev').split('\n').slice(2).map((l) => l.trim().split(':')[0] ?? '').filter((n) => n.length > 0);
  const routes = [...lines('/proc/net/route'), ...readText('/proc/net/ipv6_route').split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !/\slo$/.test(l))];
  const listeners: ProbeReport['network']['listeners'] = [];
  for (const [file, proto] of [['/proc/net/tcp', 'tcp'], ['/proc/net/tcp6', 'tcp'], ['/proc/net/udp', 'udp'], ['/proc/net/udp6', 'udp']] as const) {
    for (const line of lines(file)) {
      const f = line.split(/\s+/);
      // TCP: LISTEN (0A) only; UDP: every bound socket (there is no listen state) except a connected one,
      // which takes datagrams from its one peer only (a DNS lookup's socket, still open as the probe reads).
      if (proto === 'tcp' && f[3] !== '0A') continue;
      if (proto === 'udp' && !/:0000$/.test(f[2] ?? ':0000')) continue;
      const local = parseAddress(f[1] ?? '');
      if (local) listeners.push({ proto, ...local });
    }
  }
  const unixListeners: string[] = [];
  for (const line of lines('/proc/net/unix')) {
    const f = line.split(/\s+/);
    // Flags 00010000 = __SO_ACCEPTCON: a listening socket.
    if ((parseInt(f[3] ?? '0', 16) & 0x10000) !== 0) unixListeners.push(f[7] ?? '(unnamed)');
  }
  return { interfaces, routes, listeners, unixListeners };
}

/** /proc/net/{tcp,udp}{,6} address: little-endian hex words, then a hex port. */
function parseAddress(field: string): Endpoint | undefined {
  const [hex, portHex] = field.split(':');
  if (!hex || !portHex) return undefined;
  const port = parseInt(portHex, 16);
  if (hex.length === 8) {
    const bytes = Buffer.from(hex, 'hex').reverse();
    return { host: [...bytes].join('.'), port };
  }
  if (hex.length === 32) {
    const words: string[] = [];
    for (let i = 0; i < 32; i += 8) {
      const le = Buffer.from(hex.slice(i, i + 8), 'hex').reverse().toString('hex');
      words.push(le.slice(0, 4), le.slice(4));
    }
    return { host: words.map((w) => w.replace(/^0{1,3}/, '')).join(':'), port };
  }
  return undefined;
}

function readSelf(): ProbeReport['self'] {
  const status = readText('/proc/self/status');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '?';
  const uid = process.getuid?.() ?? -1;
  let ownsUsr = false;
  try {
    // /usr belongs to host root; owning it means this process is host root (no user namespace, or one mapping root).
    ownsUsr = statSync('/usr').uid === uid;
  } catch {
    // No /usr: nothing to own.
  }
  return { uid, ownsUsr, capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs'), seccomp: field('Seccomp') };
}

interface Text {
  source: string;
  data: Buffer;
}

function readProcesses(): { processes: ProbeReport['processes']; texts: Text[] } {
  const processes: ProbeReport['processes'] = [];
  const texts: Text[] = [];
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    // No /proc: nothing to list.
  }
  for (const pid of pids) {
    for (const what of ['cmdline', 'environ']) {
      try {
        const data = readFileSync(`/proc/${pid}/${what}`);
        texts.push({ source: `/proc/${pid}/${what}`, data });
        if (what === 'cmdline') processes.push({ pid: Number(pid), cmdline: data.toString('latin1').replace(/\0/g, ' ').trim() });
      } catch {
        // Exited, or not ours to read.
      }
    }
  }
  return { processes, texts };
}

/**
 * Regular files under `dirs` (links not followed, `skip` left out), within the limits. A file
 * over the per-file limit is skipped and named; the total limit stops the
 * walk. Either way `truncated` says what was left unread.
 */
function readFiles(dirs: string[], limits: ProbeSpec['limits'], used: number, skip: string[]): { texts: Text[]; truncated?: string } {
  const texts: Text[] = [];
  const unread: string[] = [];
  let total = used;
  let visited = 0;
  let full = false;
  const walk = (dir: string, depth: number): void => {
    if (depth > 12) {
      unread.push(`${dir} (deeper than 12 folders)`);
      return;
    }
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (full) return;
      const path = join(dir, e.name);
      if (++visited > limits.entries) {
        unread.push(`everything from ${path} on (over ${limits.entries} files and folders)`);
        full = true;
        return;
      }
      if (skip.includes(path)) continue;
      if (e.isDirectory()) walk(path, depth + 1);
      else if (e.isFile()) {
        // open, fstat, read, close: four syscalls a file where stat-then-readFile took six, which under
        // gVisor was ~a third of the probe's time. Opened without following a link or blocking on a FIFO
        // swapped in since the listing; what the agent cannot open it cannot read either.
        let fd: number;
        try {
          fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        } catch {
          continue;
        }
        try {
          const st = fstatSync(fd);
          if (!st.isFile()) continue;
          if (st.size > limits.fileBytes) {
            unread.push(`${path} (${st.size} bytes)`);
            continue;
          }
          if (total + st.size > limits.totalBytes) {
            unread.push(`everything after ${path} (over ${limits.totalBytes} bytes in all)`);
            full = true;
            return;
          }
          const data = readOpen(fd, st.size);
          total += data.length;
          texts.push({ source: path, data });
        } catch {
          // Not readable by the agent either.
        } finally {
          closeSync(fd);
        }
      }
    }
  };
  for (const d of dirs) if (!full) walk(d, 0);
  if (unread.length === 0) return { texts };
  const list = `${unread.slice(0, 10).join(', ')}${unread.length > 10 ? ` and ${unread.length - 10} more` : ''}`;
  return { texts, truncated: `${list.slice(0, 4_000)} over the scan limits` };
}

import type { Endpoint, ProbeReport, ProbeSpec, Proto } from './spec.js';

/**
 * The containment checks: what the probe saw inside (ProbeReport) against
 * what only the host knows (canary hits, secret values, host processes).
 * Pure, so the launch-time self-test and the escape suite
 * (tests/escape) judge the same observations the same way.
 */

export const CHECKS = {
  'host-loopback': "the host's loopback is unreachable (TCP and UDP)",
  'host-addresses': "the host's other addresses are unreachable (TCP and UDP)",
  dns: 'names the host resolves do not resolve inside',
  endpoints: "the bundle's endpoints are the only ones reachable",
  proxy: 'egress answers and refuses an unrouted host',
  'ca-trust': "the guest's trust store verifies egress's certificates",
  secrets: 'no token or host secret is readable (environment, /proc, files)',
  processes: 'no host process is visible',
  privileges: 'not host root, no capabilities, seccomp filter on',
} as const;
export type CheckId = keyof typeof CHECKS;

export interface CheckResult {
  id: CheckId;
  status: 'passed' | 'failed' | 'skipped';
  detail: string;
}

/** A value that must not be readable inside, with the forms it is searched in. Never printed. */
export interface Needle {
  /** Names it without its value, e.g. "token slot EGRESS_TOKEN_1". */
  label: string;
  forms: Buffer[];
}

export interface Expectations {
  /** Network interfaces the backend gives the bottle (bwrap: only lo). */
  interfaces: string[];
  /** Whether the bottle may have routes (bwrap: none at all). */
  routes: boolean;
  seccomp: boolean;
  /**
   * Whether no_new_privs must show in /proc/self/status (default). gVisor's
   * kernel enforces it but does not report the field: there a missing field
   * is noted, while an explicit 0 still fails.
   */
  noNewPrivsReported?: boolean;
  /** Addresses whose listeners inside are the runtime's own (docker's embedded resolver, 127.0.0.11). */
  runtimeListeners?: string[];
  /** Canary traffic the host saw arrive (any is a breach). */
  canaryHits: Array<Endpoint & { proto: Proto; from: string }>;
  /** Strings found only in host processes' command lines (the launcher's, the bundle's). */
  hostProcessMarkers: string[];
  needles: Needle[];
}

const REACHED = new Set(['connected', 'answered']);

export function evaluate(spec: ProbeSpec, report: ProbeReport, expect: Expectations): CheckResult[] {
  return [
    reachability('host-loopback', spec, report, expect, true),
    reachability('host-addresses', spec, report, expect, false),
    dns(report),
    endpoints(spec, report, expect),
    proxy(spec, report),
    caTrust(spec, report),
    secrets(report, expect.needles),
    processes(report, expect.hostProcessMarkers),
    privileges(report, expect.seccomp, expect.noNewPrivsReported ?? true),
  ];
}

export function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1';
}

function reachability(id: CheckId, spec: ProbeSpec, report: ProbeReport, expect: Expectations, loopback: boolean): CheckResult {
  const mine = (e: Endpoint): boolean => isLoopback(e.host) === loopback;
  const tried = report.attempts.filter(mine);
  if (spec.canaries.filter(mine).length === 0) return { id, status: 'skipped', detail: 'the host has no such address' };
  const reached = tried.filter((a) => REACHED.has(a.outcome)).map((a) => `${a.proto} ${fmt(a)} ${a.outcome}`);
  const hits = expect.canaryHits.filter(mine).map((h) => `${h.proto} ${fmt(h)} received traffic from ${h.from}`);
  const missing = spec.canaries.filter(mine).filter((c) => !tried.some((a) => a.proto === c.proto && a.host === c.host && a.port === c.port));
  const problems = [...reached, ...hits, ...missing.map((c) => `${c.proto} ${fmt(c)} was not tried`)];
  if (problems.length > 0) return { id, status: 'failed', detail: problems.join('; ') };
  return { id, status: 'passed', detail: tried.map((a) => `${a.proto} ${fmt(a)}: ${a.outcome}`).join(', ') };
}

function dns(report: ProbeReport): CheckResult {
  if (!report.dns) return { id: 'dns', status: 'skipped', detail: 'the host resolves no name offline' };
  if (report.dns.outcome === 'resolved') return { id: 'dns', status: 'failed', detail: `${report.dns.name} (which the host resolves) resolves inside` };
  return { id: 'dns', status: 'passed', detail: `${report.dns.name}: ${report.dns.outcome}` };
}

function endpoints(spec: ProbeSpec, report: ProbeReport, expect: Expectations): CheckResult {
  const n = report.network;
  const problems: string[] = [];
  const extraIfaces = n.interfaces.filter((i) => !expect.interfaces.includes(i));
  if (extraIfaces.length > 0) problems.push(`network interfaces besides ${expect.interfaces.join(', ')}: ${extraIfaces.join(', ')}`);
  if (!expect.routes && n.routes.length > 0) problems.push(`${n.routes.length} route(s) out of the bottle`);
  const runtimeOwn = expect.runtimeListeners ?? [];
  const expected = (l: Endpoint & { proto: Proto }): boolean =>
    runtimeOwn.includes(l.host) || (l.proto === 'tcp' && spec.endpoints.some((e) => e.host === l.host && e.port === l.port));
  const extra = n.listeners.filter((l) => !expected(l)).map((l) => `${l.proto} ${fmt(l)}`);
  if (extra.length > 0) problems.push(`listeners besides the bundle's: ${limit(extra)}`);
  if (n.unixListeners.length > 0) problems.push(`listening Unix sockets: ${limit(n.unixListeners)}`);
  if (n.notListening.length > 0) problems.push(`the bundle's ${n.notListening.map(fmt).join(', ')} never listened`);
  if (problems.length > 0) return { id: 'endpoints', status: 'failed', detail: problems.join('; ') };
  return { id: 'endpoints', status: 'passed', detail: `interfaces ${n.interfaces.join(', ')}; listening: ${spec.endpoints.map(fmt).join(', ')}` };
}

function proxy(spec: ProbeSpec, report: ProbeReport): CheckResult {
  const p = report.proxy;
  if (p.status === 403 && p.blockStage === 'route') return { id: 'proxy', status: 'passed', detail: `${spec.unroutedHost}: 403 (route)` };
  const got = p.status === null ? `no answer (${p.error ?? '?'})` : `${p.status}${p.blockStage ? ` (${p.blockStage})` : ''}`;
  return { id: 'proxy', status: 'failed', detail: `egress at ${fmt(spec.proxy)} answered ${spec.unroutedHost} with ${got}, not a route block` };
}

function caTrust(spec: ProbeSpec, report: ProbeReport): CheckResult {
  const c = report.ca;
  const problems: string[] = [];
  if (!c.inBundle) problems.push(`${spec.ca.bundlePath} does not hold the bottle CA`);
  if (!c.fileMatches) problems.push(`${spec.ca.filePath} does not hold the bottle CA`);
  if (c.inBundle && spec.ca.leafFor && c.handshake !== 'verified') problems.push(`a leaf egress minted for ${spec.ca.leafFor.host} did not verify: ${c.handshake}`);
  if (problems.length > 0) return { id: 'ca-trust', status: 'failed', detail: problems.join('; ') };
  return { id: 'ca-trust', status: 'passed', detail: spec.ca.leafFor ? `leaf for ${spec.ca.leafFor.host} verified` : 'CA in the trust store (no routed host to mint a leaf for)' };
}

function secrets(report: ProbeReport, needles: Needle[]): CheckResult {
  const found: string[] = [];
  for (const text of report.texts) {
    const data = Buffer.from(text.data, 'base64');
    for (const needle of needles) {
      if (needle.forms.some((f) => data.includes(f))) found.push(`${needle.label} in ${text.source}`);
    }
  }
  // A file left unread could hold a secret: not proven clean is a failure too.
  if (report.truncated !== undefined) found.push(`could not read everything the agent can: ${report.truncated}`);
  if (found.length > 0) return { id: 'secrets', status: 'failed', detail: limit(found) };
  return { id: 'secrets', status: 'passed', detail: `${needles.length} value(s) searched in ${report.texts.length} environments, command lines and files` };
}

function processes(report: ProbeReport, markers: string[]): CheckResult {
  const visible = report.processes.filter((p) => markers.some((m) => m.length > 0 && p.cmdline.includes(m)));
  if (visible.length > 0) return { id: 'processes', status: 'failed', detail: `host processes are visible inside (pid namespace shared): ${limit(visible.map((p) => `pid ${p.pid}`))}` };
  return { id: 'processes', status: 'passed', detail: `${report.processes.length} process(es), all the bottle's` };
}

function privileges(report: ProbeReport, seccomp: boolean, noNewPrivsReported: boolean): CheckResult {
  const s = report.self;
  const problems: string[] = [];
  if (s.ownsUsr) problems.push('the bottle runs as host root (it owns /usr)');
  if (!/^0+$/.test(s.capEff)) problems.push(`effective capabilities ${s.capEff}`);
  const unreported = !noNewPrivsReported && s.noNewPrivs === '?';
  if (s.noNewPrivs !== '1' && !unreported) problems.push('no_new_privs is off');
  if (seccomp && s.seccomp !== '2') problems.push(`no seccomp filter (Seccomp: ${s.seccomp})`);
  if (problems.length > 0) return { id: 'privileges', status: 'failed', detail: problems.join('; ') };
  return { id: 'privileges', status: 'passed', detail: `uid ${s.uid}, no capabilities${seccomp ? ', seccomp filter' : ''}${unreported ? ' (no_new_privs not reported by this kernel)' : ''}` };
}

/**
 * The forms a secret is searched in: raw, hex, and base64 at each of the
 * three alignments (the middle of each encoding, which does not depend on
 * the bytes around the value).
 */
export function needleForms(value: string): Buffer[] {
  const raw = Buffer.from(value, 'utf8');
  const forms = [raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase())];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), raw]).toString('base64');
    // Drop the chars that mix in the padding bytes before and the unknown bytes after.
    const start = shift === 0 ? 0 : Math.ceil((shift * 4) / 3);
    const end = encoded.replace(/=+$/, '').length - 3;
    if (end - start >= 8) {
      const middle = encoded.slice(start, end);
      forms.push(Buffer.from(middle), Buffer.from(middle.replaceAll('+', '-').replaceAll('/', '_')));
    }
  }
  return forms;
}

function fmt(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function limit(items: string[], n = 5): string {
  return items.length > n ? `${items.slice(0, n).join(', ')} and ${items.length - n} more` : items.join(', ');
}

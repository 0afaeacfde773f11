import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ResolvedSecrets } from '../plan/secrets.js';
import { UserError } from '../util/errors.js';
import type { BottlePlan } from '../plan/types.js';
import { GUEST_CA_BUNDLE, GUEST_CA_FILE, GUEST_HOME } from '../provision/layout.js';
import { leafOrder } from '../routes/leaf-order.js';
import { trace } from '../util/trace.js';
import { openCanaries, type Canaries } from './canaries.js';
import { evaluate, type CheckResult } from './checks.js';
import { hostResolvedName } from './host-name.js';
import { hostSecretNeedles } from './needles.js';
import { describeRecord, failedChecks, writeContainmentRecord, type ContainmentRecord } from './record.js';
import { parseReport } from './report-schema.js';
import { PROBE_SPEC_VERSION, type Endpoint, type ProbeSpec, type ProbeSpecEarly, type ProbeSpecLate } from './spec.js';

/** The bundle as the agent reaches it from inside, and which endpoint is the proxy. */
export interface ProbeTargets {
  endpoints: Endpoint[];
  proxy: Endpoint;
  /** The endpoints are another machine's (docker's bundle container): reached, not listening inside. */
  endpointsRemote?: boolean;
}

/**
 * What a backend hands the self-test once its bundle is ready: how its
 * bottle should look from inside, and the way to finish the probe it started
 * in the bottle. The backend never judges; the gate does, and the backend
 * lets the agent start only when `verify` resolves.
 */
export interface ProbeInside {
  /** The network this backend builds (bwrap: only `lo`, no routes). */
  expect: { interfaces: string[]; routes: boolean; seccomp: boolean; noNewPrivsReported?: boolean; runtimeListeners?: string[] };
  /** The CA egress signs leaves with (PEM). */
  caPem: string;
  /** Strings only host processes' command lines hold (e.g. the bundle's config path). */
  hostProcessMarkers: string[];
  /** Hand the probe the last line of its spec; resolves with its one-line report (untrusted). */
  finish(late: string): Promise<string>;
}

/**
 * The self-test as a backend uses it: `begin` before the bottle starts (the
 * first spec line goes to the probe's stdin as it starts, so its checks that
 * need no bundle overlap the bundle's start-up), `verify` once the bundle is
 * ready, and release the agent only after that.
 */
export interface ContainmentGate {
  /** False only with --no-containment-check: the backend then prepares no probe. */
  readonly enabled: boolean;
  /** Set once `verify` passed. The launcher refuses a launch where an enabled gate was never passed. */
  readonly verified: boolean;
  /** Open the host canaries; resolves with the first line of the probe's spec. */
  begin(targets: ProbeTargets): Promise<string>;
  /** Finish the probe, judge and record; throws a ContainmentError naming each failed check unless all passed. */
  verify(inside: ProbeInside): Promise<void>;
  /** Close the canaries when the launch ends before `verify` did (registered on the teardown stack). */
  dispose(): Promise<void>;
}

/** A launch refused because the bottle's containment could not be proven. */
export class ContainmentError extends UserError {
  override name = 'ContainmentError';
}

const LIMITS: ProbeSpec['limits'] = { attemptMs: 500, fileBytes: 8 << 20, totalBytes: 32 << 20, entries: 50_000 };
const PROBE_TIMEOUT_MS = 15_000;

export function containmentGate(opts: {
  plan: BottlePlan;
  secrets: ResolvedSecrets;
  hostEnv: Readonly<Record<string, string | undefined>>;
  home: string;
  log: (message: string) => void;
}): ContainmentGate {
  const { plan, home } = opts;
  const enabled = plan.containmentCheck.run;
  // Started now so the lookup overlaps the bundle's start-up.
  const dnsName = enabled ? hostResolvedName([plan.slug]) : Promise.resolve(undefined);
  let verified = false;
  let begun: { spec: ProbeSpecEarly; canaries: Canaries; at: string } | undefined;
  const record = (r: ContainmentRecord): void => {
    try {
      writeContainmentRecord(plan.slug, home, r);
    } catch (err) {
      opts.log(`bot-bottle: could not record the containment check (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const refuse = (at: string, reason: string): never => {
    record({ at, result: 'failed', reason, checks: [] });
    throw new ContainmentError(refusal(`the probe could not run: ${reason}`));
  };
  return {
    enabled,
    get verified() {
      return verified;
    },
    async begin(targets) {
      if (!enabled || begun) throw new Error('the containment check is turned off or already begun');
      const at = new Date().toISOString();
      const canaries = await openCanaries();
      const spec: ProbeSpecEarly = {
        version: PROBE_SPEC_VERSION,
        canaries: canaries.list,
        ...optional('dnsName', await dnsName),
        endpoints: targets.endpoints,
        ...(targets.endpointsRemote === true ? { endpointsRemote: true } : {}),
        proxy: targets.proxy,
        unroutedHost: unroutedHost(plan),
        ca: { bundlePath: GUEST_CA_BUNDLE, filePath: GUEST_CA_FILE, ...optional('leafFor', routedHost(plan)) },
        scanDirs: [GUEST_HOME, '/etc', '/run', '/tmp', '/var/tmp'],
        limits: LIMITS,
      };
      begun = { spec, canaries, at };
      trace('containment canaries open');
      return JSON.stringify(spec);
    },
    async verify(inside) {
      if (!begun) throw new Error('verify before begin');
      const { canaries, at } = begun;
      const started = performance.now();
      let checks: CheckResult[];
      try {
        const late: ProbeSpecLate = { caDer: new X509Certificate(inside.caPem).raw.toString('base64') };
        const spec: ProbeSpec = { ...begun.spec, ca: { ...begun.spec.ca, der: late.caDer } };
        trace('containment probe given the CA');
        const raw = await withTimeout(inside.finish(JSON.stringify(late)), PROBE_TIMEOUT_MS, `the containment probe did not report within ${PROBE_TIMEOUT_MS / 1000} s`);
        const report = parseReport(raw);
        trace(`containment probe reported ${Math.round(raw.length / 1024)} kB (probe ms since its start: ${Object.entries(report.timings).map(([k, v]) => `${k} ${v}`).join(', ')}, done ${report.ms})`);
        checks = evaluate(spec, report, {
          ...inside.expect,
          canaryHits: canaries.hits,
          hostProcessMarkers: [...inside.hostProcessMarkers, ownCommandLine()],
          needles: hostSecretNeedles(plan, opts.secrets, opts.hostEnv),
        });
        trace('containment checks judged');
      } catch (err) {
        return refuse(at, err instanceof Error ? err.message : String(err));
      } finally {
        await canaries.close();
      }
      const ms = Math.round(performance.now() - started);
      const failed = checks.filter((c) => c.status === 'failed');
      const result: ContainmentRecord = { at, result: failed.length > 0 ? 'failed' : 'passed', ms, checks, ...(failed.length > 0 ? { reason: failedChecks(checks) } : {}) };
      record(result);
      if (failed.length > 0) throw new ContainmentError(refusal(failed.map((c) => `${c.id} FAILED: ${c.detail}`).join('\n  ')));
      verified = true;
      trace(`containment check passed in ${ms} ms after the bundle was ready`);
      if (checks.some((c) => c.status === 'skipped')) opts.log(`bot-bottle: containment check ${describeRecord(result)}`);
    },
    dispose: () => begun?.canaries.close() ?? Promise.resolve(),
  };
}

/** Recorded for `info` when the operator turned the check off. */
export function recordSkipped(slug: string, home: string, reason: string): void {
  writeContainmentRecord(slug, home, { at: new Date().toISOString(), result: 'skipped', reason, checks: [] });
}

export const OPT_OUT_WARNING =
  'WARNING: --no-containment-check: this bottle\'s isolation is NOT verified before the agent starts. A broken or replaced sandboxing tool, a kernel that drops a namespace or a misconfigured network would go unnoticed and the agent could reach the host.';

function refusal(what: string): string {
  return `containment check failed; the agent was not started and the bottle was torn down:\n  ${what}\nThe sandbox did not isolate the agent as it must on this machine (a broken or replaced sandboxing tool, a kernel or runtime that drops a namespace, or a misconfigured network).`;
}

/** A host no route can match, so egress must refuse it. */
function unroutedHost(plan: BottlePlan): string {
  const nonce = randomBytes(6).toString('hex');
  const routes = plan.sidecars.egress.routes.map((r) => r.host.toLowerCase());
  const matches = (h: string): boolean => routes.some((r) => r === h || (r.startsWith('*.') && h.endsWith(r.slice(1))));
  for (const tld of ['invalid', 'test', 'example']) {
    const host = `bb-containment-${nonce}.${tld}`;
    if (!matches(host)) return host;
  }
  return `bb-containment-${nonce}.${nonce}`;
}

/** A routed host egress will mint a leaf for (no request is sent, only a handshake): the one egress mints first. */
function routedHost(plan: BottlePlan): Endpoint | undefined {
  const routes = plan.sidecars.egress.routes;
  const first = leafOrder(routes)[0];
  const route = first !== undefined ? routes.find((r) => r.host.toLowerCase() === first) : routes[0];
  if (!route) return undefined;
  return { host: route.host.startsWith('*.') ? `bb-containment-check${route.host.slice(1)}` : route.host, port: route.port };
}

function ownCommandLine(): string {
  try {
    return readFileSync('/proc/self/cmdline', 'latin1').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

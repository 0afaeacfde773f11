import {
  createScanner,
  createStreamScanner,
  type DetectorName,
  type Finding,
  type Scanner,
  type StreamScanner,
} from '../../dlp/index.js';
import { exampleCredential } from '../../dlp/examples.js';
import type { EgressRoutePlan } from '../../routes/model.js';
import type { ProposalStore } from '../../supervise/queue.js';
import type { AuditFinding } from './audit.js';
import { secretOwners, type HeldValue } from './held-value.js';
import { block, type Block } from './verdict.js';

/** Bytes of a body held back (and re-scanned with the next chunk) so a secret split across chunks is caught before any of it leaves. */
export const HOLDBACK_CHARS = 4096;

export interface DlpDeps {
  knownSecrets: readonly string[];
  /** The same secrets by variable name, to tell the operator whose a value is. */
  knownSecretNames?: readonly { name: string; value: string }[];
  /** The live routes (which token slot is injected where), for the same purpose. */
  routes?: () => readonly EgressRoutePlan[];
  queue: ProposalStore | undefined;
  superviseTimeoutMs: number;
  log: (event: Record<string, unknown>) => void;
}

export interface SuperviseAsk {
  host: string;
  method: string;
  path: string;
  signal: AbortSignal;
}

/** What the operator may answer an `egress-token-allow` with (Answer.scope). */
export const TOKEN_ALLOW_SCOPES = ['bottle', 'once'] as const;

/** Made up on the first warm-up, not at load: the bundle imports this module on its way to ready. */
let warmText: { headers: string; body: Buffer; reply: string } | undefined;
function warmSample(): NonNullable<typeof warmText> {
  return (warmText ??= {
    headers: 'POST /v1/messages HTTP/1.1\r\ncontent-type: application/json\r\nuser-agent: warm-up/1.0\r\n',
    // Shaped like a model request: prose, JSON punctuation, identifiers and digits, nothing credential-like.
    body: Buffer.from(
      JSON.stringify({
        model: 'warm-up',
        system: 'Work in the repository, run the tests and report what changed. '.repeat(64),
        tools: Array.from({ length: 16 }, (_, i) => ({ name: `tool_${i}`, description: `Runs step ${i} of the build with a timeout of ${i * 1000} ms and reports its output.`.repeat(8) })),
        messages: [{ role: 'user', content: 'List the files, then fix the failing test in src/util/path-check.ts line 42.' }],
      }),
    ),
    reply: `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'The test fails because the path is joined before it is checked. '.repeat(16) } })}\n\n`,
  });
}

/** One operator decision on a set of values, shared by every request that carries them. */
type Decision = { allowed: true } | { allowed: false; why: string };

/**
 * Outbound DLP for one proxy: scanners per detector set, the per-route
 * `onMatch` policy, and the values operators approved (kept for the proxy's
 * life, which is the bottle's: every connection, every later request).
 */
export class DlpPolicy {
  /** Scanners by detector set ("bytes:" marks utf8Bytes ones), and by a route's own list (no sort on the hot path). */
  private readonly scanners = new Map<string, Scanner>();
  private readonly byList = new WeakMap<readonly DetectorName[], Scanner>();
  private readonly bytesByList = new WeakMap<readonly DetectorName[], Scanner>();
  /**
   * Values approved through `egress-token-allow` for the bottle, per host (the
   * operator judged sending it there, not anywhere): approvalKey(). In memory
   * only, never logged.
   */
  private readonly approved = new Set<string>();
  /** Values the operator is being asked about now, by approvalKey(): a second request carrying one waits for the same answer. */
  private readonly asking = new Map<string, Promise<Decision>>();

  constructor(private readonly deps: DlpDeps) {}

  /**
   * A scanner for what the agent sends as bytes: node hands header values and the
   * request target over one char per byte, and the body gate reads bodies the
   * same way (UTF-8 read as latin1, see ScannerOptions.utf8Bytes).
   */
  bytesScanner(detectors: readonly DetectorName[]): Scanner {
    return this.cached(detectors, true);
  }

  /** A request body's stream scanner: bytes, reported once whole (the gate holds data until it is scanned). */
  bodyStreamScanner(detectors: readonly DetectorName[]): StreamScanner {
    return createStreamScanner({ detectors, knownSecrets: this.deps.knownSecrets, windowChars: HOLDBACK_CHARS, settle: true, utf8Bytes: true });
  }

  scanner(detectors: readonly DetectorName[]): Scanner {
    return this.cached(detectors, false);
  }

  private cached(detectors: readonly DetectorName[], utf8Bytes: boolean): Scanner {
    // Routes keep their detector list for the table's life: look it up by identity
    // first, so a request does not sort and join it.
    const byList = utf8Bytes ? this.bytesByList : this.byList;
    const known = byList.get(detectors);
    if (known) return known;
    const key = `${utf8Bytes ? 'bytes:' : ''}${[...detectors].sort().join(',')}`;
    let s = this.scanners.get(key);
    if (!s) {
      s = createScanner({ detectors, knownSecrets: this.deps.knownSecrets, utf8Bytes });
      this.scanners.set(key, s);
    }
    byList.set(detectors, s);
    return s;
  }

  /**
   * Runs each route's scanners once over a made-up request and reply, so the
   * agent's first real ones do not pay for V8's first compile of the
   * detectors (~30 ms on an 80 kB model request, measured cold vs warm). One
   * route per event-loop turn: a request arriving meanwhile waits for one
   * scan of the made-up request at most.
   */
  warm(dlps: ReadonlyArray<{ outbound: readonly DetectorName[]; inbound: readonly DetectorName[] }>): void {
    const seen = new Set<string>();
    const todo = dlps.filter((d) => {
      const key = `${[...d.outbound].sort().join(',')}|${[...d.inbound].sort().join(',')}`;
      return !seen.has(key) && seen.add(key);
    });
    const next = (): void => {
      const d = todo.shift();
      if (d === undefined) return;
      try {
        const sample = warmSample();
        this.bytesScanner(d.outbound).scan(sample.headers);
        const body = this.bodyStreamScanner(d.outbound);
        body.pushBytes(sample.body);
        body.end();
        const reply = this.streamScanner(d.inbound);
        reply.push(sample.reply);
        reply.end();
      } catch {
        // A warm-up finds nothing worth reporting; a real scan meets any real error.
      }
      setImmediate(next);
    };
    next();
  }

  streamScanner(detectors: readonly DetectorName[]): StreamScanner {
    return createStreamScanner({ detectors, knownSecrets: this.deps.knownSecrets, windowChars: HOLDBACK_CHARS });
  }

  /**
   * Blocking findings not already approved by the operator, and not a
   * published example or test key (src/dlp/examples.ts; a value the sidecar
   * knows as a secret is never excused).
   */
  blocking(findings: Finding[], rawOf: (f: Finding) => string | undefined, host?: string): Finding[] {
    return findings.filter((f) => {
      if (f.severity !== 'block') return false;
      const raw = rawOf(f);
      if (raw === undefined) return true;
      if (host !== undefined && this.approved.has(approvalKey(host, raw))) return false;
      return f.detector === 'known_secrets' || exampleCredential(f.rule, raw) === undefined;
    });
  }

  /**
   * The supervise policy: hold the request, ask the operator once per value,
   * remember a bottle-wide approval. Anything but an approval (reject,
   * timeout, error, no queue) blocks.
   */
  async supervise(values: HeldValue[], ask: SuperviseAsk): Promise<Block | undefined> {
    const what = describe(values.map((v) => v.finding));
    if (!this.deps.queue) return block('outbound-dlp', `${what}; dlp.onMatch is supervise but no supervise queue is configured`);
    if (values.some((v) => v.raw === undefined)) {
      return block('outbound-dlp', `${what}; the match spans data already forwarded, so it cannot be held for approval`);
    }
    const waits = new Set<Promise<Decision>>();
    const fresh: HeldValue[] = [];
    for (const v of values) {
      const pending = this.asking.get(approvalKey(ask.host, v.raw!));
      if (pending) waits.add(pending);
      else if (!this.approved.has(approvalKey(ask.host, v.raw!)) && !fresh.some((x) => x.raw === v.raw)) fresh.push(v);
    }
    if (waits.size > 0) this.deps.log({ event: 'egress-supervise-join', host: ask.host, note: 'waiting for the answer to a question already asked about the same value' });
    if (fresh.length > 0) {
      const decision = this.askOperator(fresh, ask);
      const keys = fresh.map((v) => approvalKey(ask.host, v.raw!));
      for (const k of keys) this.asking.set(k, decision);
      void decision.then(() => {
        for (const k of keys) if (this.asking.get(k) === decision) this.asking.delete(k);
      });
      waits.add(decision);
    }
    try {
      for (const d of await untilAborted(Promise.all(waits), ask.signal)) {
        if (!d.allowed) return block('outbound-dlp', `${what}; ${d.why}`);
      }
      return undefined;
    } catch (err) {
      return block('outbound-dlp', `${what}; asking the operator failed (${(err as Error).message})`);
    }
  }

  /**
   * One `egress-token-allow` proposal for `values`, and its answer. Not tied to
   * the request that asked: a request that gave up (its client went away)
   * leaves the question open, and a later approval still counts.
   */
  private async askOperator(values: HeldValue[], ask: SuperviseAsk): Promise<Decision> {
    const queue = this.deps.queue!;
    try {
      const proposal = await queue.submit('egress-token-allow', this.details(values, ask), { timeoutMs: this.deps.superviseTimeoutMs });
      this.deps.log({ event: 'egress-supervise-wait', id: proposal.id, host: ask.host, rules: values.map((v) => v.finding.rule) });
      const answer = await queue.wait(proposal.id, { timeoutMs: this.deps.superviseTimeoutMs });
      if (answer.status === 'approved' || answer.status === 'modified') {
        if (answer.scope !== 'once') for (const v of values) this.approved.add(approvalKey(ask.host, v.raw!));
        return { allowed: true };
      }
      return { allowed: false, why: `the operator's answer to egress-token-allow ${proposal.id} was ${answer.status}` };
    } catch (err) {
      return { allowed: false, why: `asking the operator failed (${(err as Error).message})` };
    }
  }

  /** What the proposal shows: everything to judge by, never a value. */
  private details(values: HeldValue[], ask: SuperviseAsk): Record<string, unknown> {
    const names = this.deps.knownSecretNames ?? [];
    const routes = this.deps.routes?.() ?? [];
    return {
      host: ask.host,
      method: ask.method,
      path: ask.path,
      findings: values.map((v) => {
        const owners = v.finding.detector === 'known_secrets' ? secretOwners(v.raw!, names, routes) : [];
        return {
          detector: v.finding.detector,
          rule: v.finding.rule,
          masked: v.finding.masked,
          length: v.finding.end - v.finding.start,
          where: v.where,
          ...(v.finding.view !== 'raw' ? { encoding: v.finding.view } : {}),
          ...(owners.length > 0 ? { belongs_to: owners } : {}),
          context: v.context,
        };
      }),
      scopes: [...TOKEN_ALLOW_SCOPES],
    };
  }
}

/** An approval is for a value sent to one host. */
function approvalKey(host: string, raw: string): string {
  return `${host}\u0000${raw}`;
}

/** `p`, or a rejection with the signal's reason once it aborts (p itself goes on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export function describe(findings: Finding[]): string {
  const rules = [...new Set(findings.map((f) => `${f.detector}/${f.rule}`))];
  return `outbound DLP matched ${rules.join(', ')}`;
}

/** What the audit keeps of a finding: detector, rule, where and how long, never a character of a secret (see mask.ts). */
export function toAudit(findings: Finding[], where: string): AuditFinding[] {
  return findings.map((f) => ({ detector: f.detector, rule: f.rule, masked: f.masked, where, view: f.view, length: f.end - f.start, severity: f.severity }));
}

import {
  createScanner,
  createStreamScanner,
  type DetectorName,
  type Finding,
  type Scanner,
  type StreamScanner,
} from '../../dlp/index.js';
import type { RouteDlp } from '../../plan/egress-route.js';
import type { ProposalQueue } from '../../supervise/queue.js';
import type { AuditFinding } from './audit.js';
import { block, BlockError, type Block } from './verdict.js';

/** Bytes of a request body held back so a secret split across chunks is caught before any of it leaves. */
export const HOLDBACK_CHARS = 4096;

export interface DlpDeps {
  knownSecrets: readonly string[];
  queue: ProposalQueue | undefined;
  superviseTimeoutMs: number;
  log: (event: Record<string, unknown>) => void;
}

export interface SuperviseAsk {
  host: string;
  method: string;
  path: string;
  signal: AbortSignal;
}

/**
 * Outbound DLP for one proxy: scanners per detector set, the per-route
 * `onMatch` policy, and the values operators approved (kept for the proxy's life).
 */
export class DlpPolicy {
  private readonly scanners = new Map<string, Scanner>();
  private readonly byList = new WeakMap<readonly DetectorName[], Scanner>();
  /** Values approved through `egress-token-allow`: in memory only, never logged. */
  private readonly approved = new Set<string>();

  constructor(private readonly deps: DlpDeps) {}

  scanner(detectors: readonly DetectorName[]): Scanner {
    // Routes keep their detector list for the table's life: look it up by identity
    // first, so a request does not sort and join it.
    const known = this.byList.get(detectors);
    if (known) return known;
    const key = [...detectors].sort().join(',');
    let s = this.scanners.get(key);
    if (!s) {
      s = createScanner({ detectors, knownSecrets: this.deps.knownSecrets });
      this.scanners.set(key, s);
    }
    this.byList.set(detectors, s);
    return s;
  }

  streamScanner(detectors: readonly DetectorName[]): StreamScanner {
    return createStreamScanner({ detectors, knownSecrets: this.deps.knownSecrets, windowChars: HOLDBACK_CHARS });
  }

  /** Blocking findings not already approved by the operator. */
  blocking(findings: Finding[], rawOf: (f: Finding) => string | undefined): Finding[] {
    return findings.filter((f) => {
      if (f.severity !== 'block') return false;
      const raw = rawOf(f);
      return raw === undefined || !this.approved.has(raw);
    });
  }

  /**
   * The supervise policy: hold the request, ask the operator, remember an
   * approval. Anything but an approval (reject, timeout, error, no queue) blocks.
   */
  async supervise(findings: Finding[], raws: (string | undefined)[], ask: SuperviseAsk): Promise<Block | undefined> {
    const what = describe(findings);
    const queue = this.deps.queue;
    if (!queue) return block('outbound-dlp', `${what}; dlp.onMatch is supervise but no supervise queue is configured`);
    if (raws.some((r) => r === undefined)) {
      return block('outbound-dlp', `${what}; the match spans data already forwarded, so it cannot be held for approval`);
    }
    try {
      const proposal = await queue.submit(
        'egress-token-allow',
        {
          host: ask.host,
          method: ask.method,
          path: ask.path,
          findings: findings.map((f) => ({ detector: f.detector, rule: f.rule, masked: f.masked })),
        },
        { timeoutMs: this.deps.superviseTimeoutMs },
      );
      this.deps.log({ event: 'egress-supervise-wait', id: proposal.id, host: ask.host, rules: findings.map((f) => f.rule) });
      const answer = await queue.wait(proposal.id, { timeoutMs: this.deps.superviseTimeoutMs, signal: ask.signal });
      if (answer.status === 'approved' || answer.status === 'modified') {
        for (const r of raws) if (r !== undefined) this.approved.add(r);
        return undefined;
      }
      return block('outbound-dlp', `${what}; the operator's answer to egress-token-allow ${proposal.id} was ${answer.status}`);
    } catch (err) {
      return block('outbound-dlp', `${what}; asking the operator failed (${(err as Error).message})`);
    }
  }
}

export function describe(findings: Finding[]): string {
  const rules = [...new Set(findings.map((f) => `${f.detector}/${f.rule}`))];
  return `outbound DLP matched ${rules.join(', ')}`;
}

export function toAudit(findings: Finding[], where: string): AuditFinding[] {
  return findings.map((f) => ({ detector: f.detector, rule: f.rule, masked: f.masked, where, severity: f.severity }));
}

/** Same-length replacement keeps Content-Length valid while streaming. */
export function sameLengthMask(length: number): string {
  const label = '[REDACTED]';
  return length >= label.length ? label + '*'.repeat(length - label.length) : '*'.repeat(length);
}

/**
 * Streams a request body through the scanner, releasing bytes only once they
 * are more than HOLDBACK_CHARS behind the scan front. Bodies are handled as
 * latin1 so one char is one byte and finding offsets are byte offsets.
 */
export class BodyGate {
  private released = 0;
  private pending = '';
  readonly findings: AuditFinding[] = [];
  redacted = false;

  constructor(
    private readonly policy: DlpPolicy,
    private readonly dlp: RouteDlp,
    private readonly scanner: StreamScanner,
    private readonly ask: SuperviseAsk,
  ) {}

  async push(chunk: Buffer): Promise<Buffer> {
    const text = chunk.toString('latin1');
    this.pending += text;
    await this.handle(this.scanner.push(text));
    return this.release(Math.max(0, this.pending.length - HOLDBACK_CHARS));
  }

  async end(): Promise<Buffer> {
    await this.handle(this.scanner.end());
    return this.release(this.pending.length);
  }

  private release(n: number): Buffer {
    const out = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    this.released += n;
    return Buffer.from(out, 'latin1');
  }

  private rawOf = (f: Finding): string | undefined =>
    f.start >= this.released ? this.pending.slice(f.start - this.released, f.end - this.released) : undefined;

  private async handle(all: Finding[]): Promise<void> {
    if (all.length === 0) return;
    this.findings.push(...toAudit(all, 'body'));
    const hits = this.policy.blocking(all, this.rawOf);
    if (hits.length === 0) return;
    const what = describe(hits);
    switch (this.dlp.onMatch) {
      case 'block':
        throw new BlockError(block('outbound-dlp', `${what} in the request body`));
      case 'supervise': {
        const b = await this.policy.supervise(hits, hits.map(this.rawOf), this.ask);
        if (b) throw new BlockError(b);
        return;
      }
      case 'redact': {
        for (const f of hits) {
          if (f.start < this.released) {
            throw new BlockError(block('outbound-dlp', `${what}; the match spans data already forwarded, so it cannot be redacted`));
          }
          const s = f.start - this.released;
          const e = f.end - this.released;
          this.pending = this.pending.slice(0, s) + sameLengthMask(e - s) + this.pending.slice(e);
        }
        // Re-scan what we still hold: redaction must leave nothing that blocks.
        const again = this.policy.blocking(this.policy.scanner(this.dlp.outbound).scan(this.pending), () => undefined);
        if (again.length > 0) throw new BlockError(block('outbound-dlp', `${describe(again)} remains after redaction`));
        this.redacted = true;
        return;
      }
    }
  }
}

import {
  createScanner,
  createStreamScanner,
  type DetectorName,
  type Finding,
  type Scanner,
  type StreamScanner,
} from '../../dlp/index.js';
import type { ProposalQueue } from '../../supervise/queue.js';
import type { AuditFinding } from './audit.js';
import { block, type Block } from './verdict.js';


/** Bytes of a body held back (and re-scanned with the next chunk) so a secret split across chunks is caught before any of it leaves. */
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
  /** Scanners by detector set ("bytes:" marks utf8Bytes ones), and by a route's own list (no sort on the hot path). */
  private readonly scanners = new Map<string, Scanner>();
  private readonly byList = new WeakMap<readonly DetectorName[], Scanner>();
  private readonly bytesByList = new WeakMap<readonly DetectorName[], Scanner>();
  /** Values approved through `egress-token-allow`: in memory only, never logged. */
  private readonly approved = new Set<string>();

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
          findings: findings.map((f) => ({ detector: f.detector, rule: f.rule, masked: f.masked, view: f.view, length: f.end - f.start })),
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

/** What the audit keeps of a finding: detector, rule, where and how long, never a character of a secret (see mask.ts). */
export function toAudit(findings: Finding[], where: string): AuditFinding[] {
  return findings.map((f) => ({ detector: f.detector, rule: f.rule, masked: f.masked, where, view: f.view, length: f.end - f.start, severity: f.severity }));
}

// First cut: a handful of token rules and raw known secrets. Later commits
// replace the internals without changing these signatures.
import { DlpBudgetError, type Finding, type Scanner, type ScannerOptions, type StreamScanner } from './api.js';
import { LineIndex, mask } from './mask.js';

export * from './api.js';
export { knownSecretsFromEnv } from './env.js';

const RULES: { id: string; re: RegExp }[] = [
  { id: 'aws-access-key-id', re: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b/g },
  { id: 'github-token', re: /\bgh[pousr]_[A-Za-z0-9]{36}\b/g },
  { id: 'github-fine-grained-pat', re: /\bgithub_pat_[A-Za-z0-9_]{82}\b/g },
  { id: 'anthropic-api-key', re: /\bsk-ant-[a-z0-9]{2,8}-[A-Za-z0-9_-]{80,120}/g },
  { id: 'openai-api-key', re: /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}/g },
  { id: 'private-key', re: /-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----/g },
];

export function createScanner(opts: ScannerOptions): Scanner {
  const scan = (text: string): Finding[] => {
    const started = Date.now();
    const budget = opts.timeBudgetMs ?? 2000;
    const lines = new LineIndex(text);
    const out: Finding[] = [];
    const add = (rule: string, detector: Finding['detector'], start: number, end: number): void => {
      out.push({ rule, detector, severity: 'block', start, end, ...lines.position(start), masked: mask(text.slice(start, end)), view: 'raw' });
    };
    if (opts.detectors.includes('token_patterns')) {
      for (const { id, re } of RULES) {
        re.lastIndex = 0;
        for (const m of text.matchAll(re)) add(id, 'token_patterns', m.index, m.index + m[0].length);
        if (Date.now() - started > budget) throw new DlpBudgetError('DLP scan exceeded its time budget');
      }
    }
    if (opts.detectors.includes('known_secrets')) {
      for (const s of opts.knownSecrets ?? []) {
        for (let i = text.indexOf(s); i !== -1; i = text.indexOf(s, i + 1)) add('known-secret', 'known_secrets', i, i + s.length);
      }
    }
    return out.sort((a, b) => a.start - b.start);
  };
  return {
    scan,
    redact(text) {
      let cleaned = text;
      for (const f of scan(text).filter((x) => x.severity === 'block').sort((a, b) => b.start - a.start)) {
        cleaned = cleaned.slice(0, f.start) + `[REDACTED:${f.rule}]` + cleaned.slice(f.end);
      }
      return { text: cleaned, findings: scan(cleaned) };
    },
  };
}

export function createStreamScanner(opts: ScannerOptions & { windowChars?: number }): StreamScanner {
  const scanner = createScanner(opts);
  const window = opts.windowChars ?? 4096;
  let carry = '';
  let base = 0;
  const seen = new Set<string>();
  const fresh = (fs: Finding[], offset: number): Finding[] =>
    fs
      .map((f) => ({ ...f, start: f.start + offset, end: f.end + offset }))
      .filter((f) => {
        const key = `${f.rule}:${f.start}:${f.end}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
  return {
    push(chunk) {
      const text = carry + chunk;
      const found = fresh(scanner.scan(text), base);
      const keep = Math.min(window, text.length);
      base += text.length - keep;
      carry = text.slice(text.length - keep);
      return found;
    },
    end() {
      return [];
    },
  };
}

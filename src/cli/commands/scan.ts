import { readFile } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { createScanner, type DetectorName, type Finding, knownSecretsFromEnv } from '../../dlp/index.js';

const DETECTORS: readonly DetectorName[] = ['token_patterns', 'known_secrets', 'entropy', 'naive_injection_detection'];
const DEFAULT_DETECTORS: readonly DetectorName[] = ['token_patterns', 'known_secrets'];
/** Exit codes: 0 clean, 1 something blocking found, 2 usage or I/O error. */
const EXIT_FOUND = 1;
const EXIT_USAGE = 2;
/** A file this large would blow the scan's time budget anyway; refuse instead of hanging. */
const MAX_INPUT_BYTES = 256 * 1024 * 1024;
const SCAN_BUDGET_MS = 60_000;

class UsageError extends Error {}

export function parseDetectors(list: string | undefined): DetectorName[] {
  if (list === undefined) return [...DEFAULT_DETECTORS];
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`--detectors is empty; use a comma-separated list of: ${DETECTORS.join(', ')}`);
  for (const n of names) {
    if (!(DETECTORS as readonly string[]).includes(n)) throw new UsageError(`--detectors: unknown detector "${n}"; valid: ${DETECTORS.join(', ')}`);
  }
  return names as DetectorName[];
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > MAX_INPUT_BYTES) throw new UsageError(`stdin is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function human(name: string, f: Finding): string {
  const warn = f.severity === 'warn' ? ' (warning)' : '';
  return `${name}:${f.line}:${f.column} ${f.rule} ${f.masked}${warn}\n`;
}

export async function runScan(file: string, opts: { json?: boolean; detectors?: string }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const detectors = parseDetectors(opts.detectors);
    const text = await readInput(file);
    const scanner = createScanner({ detectors, knownSecrets: knownSecretsFromEnv(env), timeBudgetMs: SCAN_BUDGET_MS });
    const findings = scanner.scan(text);
    if (opts.json) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
    else for (const f of findings) process.stdout.write(human(file === '-' ? '<stdin>' : file, f));
    return findings.some((f) => f.severity === 'block') ? EXIT_FOUND : 0;
  } catch (err) {
    process.stderr.write(`bot-bottle scan: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
}

export function registerScan(program: Command): void {
  program
    .command('scan')
    .description('scan a file (or stdin with -) for secrets; exits 1 when something is found, 0 when clean, 2 on error')
    .argument('[file]', 'file to scan, or - for stdin', '-')
    .option('--json', 'print findings as a JSON array')
    .option('--detectors [list]', `comma-separated detectors (default: ${DEFAULT_DETECTORS.join(',')}; also: entropy, naive_injection_detection)`)
    // Usage mistakes are validated here rather than by commander, so they exit 2 (commander's own errors exit 1).
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (file, opts, cmd) => {
      const extra = cmd.args.slice(1);
      const bad = [file, ...extra].find((a) => a.startsWith('-') && a !== '-') ?? extra[0];
      if (bad !== undefined) {
        process.stderr.write(`bot-bottle scan: unexpected argument "${bad}"; usage: bot-bottle scan [FILE|-] [--json] [--detectors a,b]\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const detectors = opts.detectors === true ? '' : opts.detectors;
      process.exitCode = await runScan(file, { ...(opts.json ? { json: true } : {}), ...(detectors !== undefined ? { detectors } : {}) });
    });
}

import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * How the gate runs git: argv arrays (no shell), an environment built from
 * scratch (no inherited GIT_* variables, no user/system git config), and
 * errors that carry git's own last words.
 */

export function gateGitEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    // A private HOME: the host user's ~/.gitconfig (insteadOf, credential helpers) must not apply.
    HOME: join(dataDir, 'home'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    ...extra,
  };
}

export class GitError extends Error {
  override name = 'GitError';
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Keep the tail: git's useful message is its last lines. Bounded so a chatty child cannot grow memory. */
const STDERR_KEEP = 16 * 1024;

export interface RunOptions {
  cwd?: string;
  env: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  /** Streamed stderr lines (e.g. relayed to the pushing agent). */
  onStderr?: (chunk: string) => void;
}

export function runGit(args: readonly string[], opts: RunOptions): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < 4 * 1024 * 1024) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      opts.onStderr?.(d);
      stderr = (stderr + d).slice(-STDERR_KEEP);
    });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new GitError(`git ${args[0] ?? ''} could not start: ${err.message}`, null, ''));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else {
        const why = signal ? `was killed (${signal}${timer ? ', time limit' : ''})` : `exited ${code}`;
        reject(new GitError(`git ${args[0] ?? ''} ${why}: ${lastLines(stderr)}`, code, stderr));
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export function lastLines(text: string, n = 6): string {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join(' | ');
}

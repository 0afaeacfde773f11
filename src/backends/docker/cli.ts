import { execa } from 'execa';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Writable } from 'node:stream';
import { LaunchError } from '../../launch/errors.js';

/**
 * The docker backend talks to the engine through the plain `docker` CLI:
 * argument arrays, never a shell string, and never a secret on argv (values
 * a container needs travel in files or in the CLI's environment behind a bare
 * `-e NAME`). Every failure names the command and carries docker's own words.
 */
export class DockerError extends LaunchError {
  override name = 'DockerError';
  constructor(
    message: string,
    /** docker's stderr (trimmed), for callers that tell "no such object" from real failures. */
    readonly stderr = '',
  ) {
    // A launch the engine refused is one the operator acts on: one line, no stack trace.
    super(message);
  }
}

export interface DockerRunOptions {
  /** Values for bare `-e NAME` arguments; merged over a minimal environment, never the operator's whole one. */
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}

/** The docker CLI's own knobs pass through; nothing else of the operator's environment reaches it. */
export function cliEnv(extra?: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_CONFIG', 'DOCKER_CERT_PATH', 'DOCKER_TLS_VERIFY', 'DOCKER_BUILDKIT']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Run `docker ARGS`; resolves with its trimmed stdout, rejects with a DockerError. */
export async function docker(args: readonly string[], opts: DockerRunOptions = {}): Promise<string> {
  const result = await execa('docker', [...args], {
    env: cliEnv(opts.env),
    extendEnv: false,
    reject: false,
    stripFinalNewline: true,
    timeout: opts.timeoutMs ?? 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
  });
  if (result.exitCode === 0 && !result.failed) return result.stdout;
  const stderr = result.stderr.trim();
  const why = result.timedOut ? `timed out after ${opts.timeoutMs ?? 120_000} ms` : stderr || result.shortMessage;
  throw new DockerError(`docker ${describe(args)} failed: ${why}`, stderr);
}

/**
 * Run a long docker command (a build) with its output streamed to `output`
 * as it comes, so the operator sees progress; the last lines go into the
 * error when it fails.
 */
export async function dockerStreaming(args: readonly string[], output: Writable, opts: { timeoutMs?: number } = {}): Promise<void> {
  const child = execa('docker', [...args], {
    env: cliEnv(undefined),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    buffer: false,
    timeout: opts.timeoutMs ?? 30 * 60_000,
  });
  let tail = '';
  const relay = (chunk: Buffer): void => {
    output.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', relay);
  child.stderr?.on('data', relay);
  const result = await child;
  if (result.exitCode === 0 && !result.failed) return;
  const lastLines = tail.trim().split('\n').slice(-8).join('\n');
  throw new DockerError(`docker ${describe(args)} failed${result.timedOut ? ' (timed out)' : ''}:\n${lastLines}`, lastLines);
}

/** Whether a failure only says the object is already gone (what every undo treats as done). */
export function isNoSuchObject(error: unknown): boolean {
  return error instanceof DockerError && /no such (container|network|image|object)|not found/i.test(error.stderr);
}

/** The subcommand and its operands for messages: flags' values can be long, so only the shape is kept. */
function describe(args: readonly string[]): string {
  return args.length <= 6 ? args.join(' ') : `${args.slice(0, 3).join(' ')} … ${args.slice(-1).join(' ')}`;
}

/**
 * A long-lived docker command whose stdio the caller drives (`start -ai`,
 * `exec -i`): pipes for stdin, stdout and stderr, plus extra pipes for
 * `extraFds` (a `--env-file /dev/fd/3` the CLI reads, so values never touch
 * argv, the CLI's environment or the disk). `inheritStdio` hands the
 * operator's terminal over; `inheritOutput` only stdout and stderr (headless).
 */
export function dockerChild(args: readonly string[], opts: { extraFds?: number; inheritStdio?: boolean; inheritOutput?: boolean } = {}): ChildProcess {
  const extra = Array.from({ length: opts.extraFds ?? 0 }, () => 'pipe' as const);
  const stdio: StdioOptions =
    opts.inheritStdio === true ? ['inherit', 'inherit', 'inherit', ...extra] : opts.inheritOutput === true ? ['ignore', 'inherit', 'inherit', ...extra] : ['pipe', 'pipe', 'pipe', ...extra];
  const child: ChildProcess = spawn('docker', [...args], { env: cliEnv(), stdio });
  // A child that died leaves broken pipes: its exit is what callers watch, never an EPIPE.
  for (const s of child.stdio) (s as NodeJS.EventEmitter | null)?.on('error', () => undefined);
  return child;
}

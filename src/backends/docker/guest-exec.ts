import { execa } from 'execa';
import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerError, dockerChild } from './cli.js';
import { AGENT_EXEC_PREFIX, AGENT_USER } from './guest.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The agent's environment as a docker env file. Docker reads it line by
 * line, so a value with a line break cannot be expressed: refused with the
 * variable's name, never its value.
 */
export function envFile(env: Readonly<Record<string, string>>): string {
  let out = '';
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new DockerError(`"${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)}" is not an environment variable name`);
    if (/[\r\n\0]/.test(value)) throw new DockerError(`the value of ${name} spans lines, which the docker backend cannot pass to the agent (docker env files hold one line per variable)`);
    out += `${name}=${value}\n`;
  }
  return out;
}

export interface GuestExecOptions {
  argv: readonly string[];
  /** The whole environment of the command (GuestSetup.env for the agent). */
  env: Readonly<Record<string, string>>;
  workdir?: string;
  /** Attached to the operator's terminal (`-it`) or piped. */
  tty?: boolean;
  /** Keep stdin open (`-i`) when not on a terminal. */
  stdin?: boolean;
  /** Without a terminal: the command's stdout and stderr are the operator's (a headless agent), stdin none. */
  inheritOutput?: boolean;
}

/**
 * Run a command in the bottle as the agent: `docker exec` with the
 * environment read by the docker CLI from a FIFO in a private folder
 * (`--env-file`), so no value is on any command line, in the CLI's
 * environment, in a file's contents or in `docker inspect`. (Node gives a
 * child socket pairs, which the CLI cannot open by path, hence the FIFO.)
 * Resolves the child; its exit is the command's.
 */
export async function guestExec(container: string, opts: GuestExecOptions): Promise<ChildProcess> {
  if (opts.argv.length === 0) throw new DockerError('nothing to run in the bottle');
  const content = envFile(opts.env);
  const dir = mkdtempSync(join(tmpdir(), 'bot-bottle-env-'));
  const fifo = join(dir, 'env');
  try {
    await execa('mkfifo', ['-m', '600', fifo], { extendEnv: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    const args = ['exec', '--user', AGENT_USER, '--env-file', fifo];
    if (opts.workdir !== undefined) args.push('--workdir', opts.workdir);
    if (opts.tty === true) args.push('--interactive', '--tty');
    else if (opts.stdin === true) args.push('--interactive');
    args.push(container, ...AGENT_EXEC_PREFIX, ...opts.argv);
    const child = dockerChild(args, { inheritStdio: opts.tty === true, inheritOutput: opts.inheritOutput === true });
    try {
      await feedFifo(fifo, content, child);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return child;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Write `content` once the CLI has opened the FIFO (a non-blocking open
 * fails until a reader is there), then close it so the CLI reads EOF.
 * Bounded: 10 s, or until the CLI exits without reading.
 */
async function feedFifo(fifo: string, content: string, reader: ChildProcess): Promise<void> {
  const until = Date.now() + 10_000;
  let fd: number | undefined;
  while (fd === undefined) {
    if (reader.exitCode !== null || reader.signalCode !== null) throw new DockerError('docker exec ended before it read the environment');
    try {
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > until) throw new DockerError(`docker exec did not read the environment: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  try {
    const bytes = Buffer.from(content, 'utf8');
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(fd, bytes, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > until) throw error;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The exit code of a child (128 + signal number when killed). */
export function exitCode(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1)));
  });
}

import type { ChildProcess } from 'node:child_process';
import { DockerError, dockerChild } from './cli.js';
import { AGENT_USER } from './guest.js';

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
}

/**
 * Run a command in the bottle as the agent: `docker exec` with the
 * environment read by the docker CLI from a pipe (`--env-file /dev/fd/3`),
 * so no value is on any command line, in the CLI's environment, on disk or
 * in `docker inspect`. Resolves the child; its exit is the command's.
 */
export function guestExec(container: string, opts: GuestExecOptions): ChildProcess {
  if (opts.argv.length === 0) throw new DockerError('nothing to run in the bottle');
  const file = envFile(opts.env);
  const args = ['exec', '--user', AGENT_USER, '--env-file', '/dev/fd/3'];
  if (opts.workdir !== undefined) args.push('--workdir', opts.workdir);
  if (opts.tty === true) args.push('--interactive', '--tty');
  else if (opts.stdin === true) args.push('--interactive');
  args.push(container, ...opts.argv);
  const child = dockerChild(args, { extraFds: 1, inheritStdio: opts.tty === true });
  (child.stdio[3] as NodeJS.WritableStream).end(file);
  return child;
}

/** The exit code of a child (128 + signal number when killed). */
export function exitCode(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1)));
  });
}

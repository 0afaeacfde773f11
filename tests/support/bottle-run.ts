import { execa } from 'execa';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

export interface BottleRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI the way an operator would: a separate process, its own env and cwd. */
export async function runBottleCli(args: string[], opts: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<BottleRun> {
  const result = await execa(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    // No connection ahead to a routed host (routes/preconnect.ts) unless a test asks: tests reach only what they started.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BOT_BOTTLE_PRECONNECT: '0', BOT_BOTTLE_STANDBY: '0', ...opts.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 60_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Lines of the form `PROBE <json>` printed by an in-bottle probe script. */
export function probeResults(stdout: string, stderr = ""): Record<string, unknown> {
  const line = stdout.split('\n').find((l) => l.startsWith('PROBE '));
  if (!line) throw new Error(`no PROBE line in output:\n${stdout}\n--- stderr ---\n${stderr}`);
  return JSON.parse(line.slice('PROBE '.length)) as Record<string, unknown>;
}

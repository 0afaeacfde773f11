import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/** Every process on the host as `pid` and command line (NULs as spaces). */
export function hostProcesses(): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      out.push({ pid: Number(d), cmdline: readFileSync(`/proc/${d}/cmdline`, 'latin1').replace(/\0/g, ' ').trim() });
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** Processes whose command line holds every one of `parts`. */
export function processesWith(...parts: string[]): number[] {
  return hostProcesses()
    .filter((p) => parts.every((part) => p.cmdline.includes(part)))
    .map((p) => p.pid);
}

/** Processes whose whole command line is `cmdline` (an agent's program, not the CLI that names it in --prompt). */
export function processesExactly(cmdline: string): number[] {
  return hostProcesses()
    .filter((p) => p.cmdline === cmdline)
    .map((p) => p.pid);
}

const seenBundles = new Map<string, Set<number>>();

/**
 * The sidecar bundle of bottle `slug` under `home` that is still running: the pid its pids.json records
 * (a pre-spawned bundle has no config path on its command line), and any pid seen there before for that
 * bottle, so a check after teardown (run folder gone) still looks at the bundle it saw running.
 */
export function bundlePids(home: string, slug: string): number[] {
  const key = `${home}\0${slug}`;
  const seen = seenBundles.get(key) ?? new Set<number>();
  seenBundles.set(key, seen);
  try {
    const pids = JSON.parse(readFileSync(join(home, 'state', slug, 'run', 'pids.json'), 'utf8')) as { sidecars?: { pid?: unknown } };
    if (typeof pids.sidecars?.pid === 'number') seen.add(pids.sidecars.pid);
  } catch {
    // No pids.json: the bottle is not running (or not yet).
  }
  const running = new Set(processesWith('sidecars.js').filter((pid) => seen.has(pid)));
  return [...seen].filter((pid) => running.has(pid));
}

/** Poll (bounded in time) until `check` returns a value. */
export async function waitUntil<T>(what: string, check: () => T | undefined | false, limitMs = 20_000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface StartedCli {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  stdout: () => string;
  /** Ends the CLI (by its pid) if a test left it running: first as an operator would, then for sure. */
  kill: () => Promise<void>;
}

/** Start `bot-bottle ARGS` as a separate process the test owns. */
export function startCli(args: string[], opts: { cwd: string; env: Record<string, string> }): StartedCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BOT_BOTTLE_PRECONNECT: '0', BOT_BOTTLE_STANDBY: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    kill: async () => {
      if (done) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

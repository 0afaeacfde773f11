import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BUNDLE_KNOBS, bundleSettings } from '../../src/launch/bundle-secrets.js';
import { sidecarsEntry } from '../../src/launch/prespawn.js';
import { claimStandby, spawnStandby, standbyDir, standbySocket, stopStandbys } from '../../src/launch/standby.js';
import { runBottleCli } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { startCli, waitUntil, type StartedCli } from '../support/lifecycle.js';
import { missingTool } from '../support/prereq.js';

/**
 * Standby bundles (src/launch/standby.ts): the end of a bwrap launch starts the
 * next launch's bundle; the next launch with the same build and settings takes
 * it; nothing else can, and nothing of it outlives its use.
 */
let h: TempHome | undefined;
let started: StartedCli | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await started?.kill();
  started = undefined;
  for (const s of servers.splice(0)) s.close();
  if (h) await stopStandbys(h.home);
  h?.cleanup();
  h = undefined;
});

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^\S+ \S+ Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/\(.*\)/, 'x'));
const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');

/** Pids of standby bundles listening (or loading) for sockets under `home`. */
function standbyPids(home: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        const argv = cmdline(p);
        return argv.includes('--standby') && (argv[argv.indexOf('--standby') + 1] ?? '').startsWith(standbyDir(home)) && alive(p);
      } catch {
        return false;
      }
    });
}

const sockets = (home: string): string[] => (existsSync(standbyDir(home)) ? readdirSync(standbyDir(home)).filter((n) => n.endsWith('.sock')) : []);

const needs = missingTool('bwrap') ?? missingTool('socat', ['-V']);

function shellHome(): TempHome {
  const home = tempHome();
  home.writeBottle('b', 'agent_provider: {template: shell}');
  home.writeAgent('a', 'bottle: b');
  return home;
}

/** A fresh home, one launch in it, and the standby that launch's end started, listening. */
async function firstLaunch(): Promise<{ env: Record<string, string>; home: string; cwd: string }> {
  h = shellHome();
  const env = { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_TRACE: '1', BOT_BOTTLE_STANDBY: '1' };
  expect((await runBottleCli(['start', 'a', '--headless', '--prompt', 'true'], { cwd: h.cwd, env })).exitCode).toBe(0);
  const home = h.home;
  await waitUntil('the standby to listen', () => sockets(home).length === 1, 10_000);
  return { env, home, cwd: h.cwd };
}

describe('a standby bundle between two launches', () => {
  it.skipIf(needs)('is started by a launch’s end, taken by the next launch, and replaced', async () => {
    h = shellHome();
    const env = { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_TRACE: '1', BOT_BOTTLE_STANDBY: '1', GITHUB_TOKEN: 'ghp_standbytestvalue000000000000000000000', BOT_BOTTLE_GITHUB_TOKEN: 'ghp_standbyknobvalue0000000000000000000000' };
    const first = await runBottleCli(['start', 'a', '--headless', '--prompt', 'echo first'], { cwd: h.cwd, env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toContain('standby sidecar bundle started for the next launch');
    expect(first.stderr).not.toContain('standby sidecar bundle claimed');
    const home = h.home;
    await waitUntil('the standby to listen', () => sockets(home).length === 1, 10_000);
    const [standby] = standbyPids(home);
    expect(standby).toBeDefined();
    // It holds the bundle's knobs only: no host secret in its environment, none on its command line.
    const environ = readFileSync(`/proc/${standby}/environ`, 'latin1');
    // A token variable named like a knob (the README's BOT_BOTTLE_GITHUB_TOKEN) is no knob.
    expect(environ).not.toContain('ghp_standbytestvalue');
    expect(environ).not.toContain('ghp_standbyknobvalue');
    expect(environ.split('\0').filter(Boolean).map((kv) => kv.split('=')[0]).every((k) => k !== undefined && BUNDLE_KNOBS.has(k))).toBe(true);
    expect(cmdline(standby!).join(' ')).not.toContain('ghp_');
    expect(statSync(standbyDir(home)).mode & 0o777).toBe(0o700);

    const second = await runBottleCli(['start', 'a', '--headless', '--prompt', 'echo second'], { cwd: h.cwd, env });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toContain('second');
    expect(second.stderr).toContain(`standby sidecar bundle claimed (pid ${standby})`);
    // Its ready line counts from the claim (sidecars/marks.ts).
    expect(second.stderr).toMatch(/sidecars ready \(bundle ms since its start: claimed \(standby\) 0/);
    expect(second.stderr).toContain('containment check passed');
    await waitUntil('the claimed standby to end with its launch', () => !alive(standby!), 10_000);
    await waitUntil('a new standby to listen', () => sockets(home).length === 1 && standbyPids(home).length === 1, 10_000);
    expect(standbyPids(home)).not.toContain(standby);
  });

  it.skipIf(needs)('is not taken by a launch with other settings, which starts its own bundle', async () => {
    const { env, home, cwd } = await firstLaunch();
    const [socket] = sockets(home);
    const other = await runBottleCli(['start', 'a', '--headless', '--prompt', 'echo other'], { cwd, env: { ...env, BOT_BOTTLE_STANDBY_IDLE_S: '300' } });
    expect(other.exitCode, other.stderr).toBe(0);
    expect(other.stdout).toContain('other');
    expect(other.stderr).not.toContain('standby sidecar bundle claimed');
    expect(other.stderr).toContain('sidecar bundle pre-spawned');
    // The first one still waits for a launch like the one that started it.
    await waitUntil('both standbys to listen', () => sockets(home).length === 2, 10_000);
    expect(sockets(home)).toContain(socket);
  });

  it.skipIf(needs)('ends with its launch’s CLI when that CLI is killed', async () => {
    const { env, home, cwd } = await firstLaunch();
    const [standby] = standbyPids(home);
    const cli = startCli(['start', 'a', '--headless', '--label', 'killed', '--prompt', 'sleep 60'], { cwd, env });
    started = cli;
    await waitUntil('the agent to start', () => cli.stderr().includes('agent started'), 30_000);
    expect(cli.stderr()).toContain(`standby sidecar bundle claimed (pid ${standby})`);
    cli.child.kill('SIGKILL');
    await cli.exited;
    await waitUntil('the bundle to end without its CLI', () => !alive(standby!), 10_000);
  });
});

describe('a standby bundle no launch takes', () => {
  const settings = (idle: string): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', BOT_BOTTLE_STANDBY_IDLE_S: idle });
  /** A standby started in a fresh home, once it listens: its home and pid. */
  async function listening(idle: string): Promise<{ home: string; pid: number }> {
    h = tempHome();
    const home = h.home;
    const pid = spawnStandby(home, sidecarsEntry(), settings(idle));
    expect(pid).toBeDefined();
    await waitUntil('the standby to listen', () => sockets(home).length === 1, 10_000);
    return { home, pid: pid! };
  }

  it('exits after its idle time and removes its socket', async () => {
    const { home, pid } = await listening('1');
    await waitUntil('the idle standby to exit', () => !alive(pid), 10_000);
    expect(sockets(home)).toEqual([]);
  });

  it('exits when its socket is removed (its home deleted)', async () => {
    const { home, pid } = await listening('600');
    rmSync(standbyDir(home), { recursive: true });
    await waitUntil('the orphaned standby to exit', () => !alive(pid), 10_000);
  });

  it('is stopped by `bot-bottle cleanup`', async () => {
    const { home, pid } = await listening('600');
    const r = await runBottleCli(['cleanup', '--yes'], { cwd: h!.cwd, env: { BOT_BOTTLE_HOME: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('stop the standby sidecar bundle');
    await waitUntil('the standby to exit', () => !alive(pid), 10_000);
    expect(sockets(home)).toEqual([]);
  });

  it('is one per socket: a second one for the same settings does not start', async () => {
    const { home, pid } = await listening('600');
    expect(spawnStandby(home, sidecarsEntry(), settings('600'))).toBeUndefined();
    expect(standbyPids(home)).toEqual([pid]);
  });
});

describe('claiming', () => {
  it('refuses what answers on the socket unless its command line is that standby bundle’s', async () => {
    h = tempHome();
    const settings = bundleSettings({ PATH: process.env.PATH ?? '' });
    const socket = standbySocket(h.home, sidecarsEntry(), settings)!;
    mkdirSync(standbyDir(h.home), { recursive: true, mode: 0o700 });
    // An impostor names a live pid (this test's own) and a well-formed marker.
    const impostor = createServer((c) => {
      c.on('data', () => c.write(`${JSON.stringify({ standby: 1, pid: process.pid, marker: `bb-launch-${'a'.repeat(24)}` })}\n`));
      c.on('error', () => undefined);
    });
    servers.push(impostor);
    await new Promise<void>((resolve) => impostor.listen(socket, resolve));
    expect(await claimStandby(socket, sidecarsEntry())).toBeUndefined();
  });

  it('removes a socket nothing listens on, and the launch starts its own bundle', async () => {
    h = tempHome();
    const settings = bundleSettings({ PATH: process.env.PATH ?? '' });
    const socket = standbySocket(h.home, sidecarsEntry(), settings)!;
    mkdirSync(standbyDir(h.home), { recursive: true, mode: 0o700 });
    // A listener SIGKILLed leaves its socket file behind.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(existsSync(socket)).toBe(true);
    expect(await claimStandby(socket, sidecarsEntry())).toBeUndefined();
    expect(existsSync(socket)).toBe(false);
  });
});

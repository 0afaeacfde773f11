import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mayLaunchHostBundle } from '../../src/cli/early-bundle.js';
import { hostSidecarHost } from '../../src/launch/host-sidecars.js';
import { bundleArgv, discardPrespawnedBundle, prespawnBundle, sidecarsEntry, takePrespawnedBundle } from '../../src/launch/prespawn.js';
import { launchMarker } from '../../src/sidecars/launch-marker.js';
import { TeardownStack } from '../../src/launch/teardown.js';
import { route } from '../egress/support.js';
import { tempHome, type TempHome } from '../support/home.js';
import { startCli, waitUntil, type StartedCli } from '../support/lifecycle.js';
import { missingTool } from '../support/prereq.js';

/**
 * The sidecar bundle src/cli/main.ts starts before the CLI loads its commands
 * (src/launch/prespawn.ts): it serves nothing until a launch hands it its
 * config, the launch that takes it owns it, and whatever else happens (no
 * launch, a failed plan, a killed CLI) it does not outlive the CLI.
 */
let h: TempHome | undefined;
let started: StartedCli | undefined;
let child: ChildProcessWithoutNullStreams | undefined;
afterEach(async () => {
  await started?.kill();
  started = undefined;
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
  discardPrespawnedBundle();
  h?.cleanup();
  h = undefined;
});

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^\S+ \S+ Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/\(.*\)/, 'x'));
const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
const prespawnedPid = (stderr: string): number | undefined => {
  const found = /sidecar bundle pre-spawned \(pid (\d+)\)/.exec(stderr)?.[1];
  return found === undefined ? undefined : Number(found);
};

/** An egress-only bundle config whose socket and CA land in `dir`. */
function bundleConfig(dir: string): { file: string; socket: string; ca: string } {
  mkdirSync(join(dir, 'sock'), { recursive: true });
  const routesFile = join(dir, 'routes.json');
  writeFileSync(routesFile, JSON.stringify([route('api.example.test', 443)]));
  const socket = join(dir, 'sock', 'egress.sock');
  const ca = join(dir, 'ca.pem');
  const file = join(dir, 'sidecars.json');
  writeFileSync(file, JSON.stringify({ bottle: 'early', egress: { listen: { socket }, routesFile, caCertOut: ca } }), { mode: 0o600 });
  return { file, socket, ca };
}

function lines(stream: NodeJS.ReadableStream): () => string[] {
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return () => text.split('\n').filter((l) => l.length > 0);
}

describe('which command lines pre-spawn the bundle', () => {
  it('start and resume on bwrap (or an undecided backend), nothing else', () => {
    expect(mayLaunchHostBundle(['start', 'a', '--headless', '--prompt', 'x'], {})).toBe(true);
    expect(mayLaunchHostBundle(['resume', 'a-1234'], {})).toBe(true);
    expect(mayLaunchHostBundle(['start', 'a', '--backend', 'bwrap'], { BOT_BOTTLE_BACKEND: 'docker' })).toBe(true);
    expect(mayLaunchHostBundle(['start', 'a', '--backend=docker'], {})).toBe(false);
    expect(mayLaunchHostBundle(['start', 'a'], { BOT_BOTTLE_BACKEND: 'smolmachines' })).toBe(false);
    expect(mayLaunchHostBundle(['start', 'a', '--dry-run'], {})).toBe(false);
    expect(mayLaunchHostBundle(['start', '--help'], {})).toBe(false);
    expect(mayLaunchHostBundle(['list'], {})).toBe(false);
    expect(mayLaunchHostBundle([], {})).toBe(false);
    expect(mayLaunchHostBundle(['start', 'a'], { BOT_BOTTLE_PRESPAWN: '0' })).toBe(false);
  });
});

describe('a bundle started with --config-on-stdin', () => {
  const start = (dir: string): ChildProcessWithoutNullStreams => {
    const c = spawn(process.execPath, bundleArgv(sidecarsEntry(), launchMarker()), { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['pipe', 'pipe', 'pipe'] });
    child = c;
    return c;
  };

  it('listens, mints and reads nothing until its config path arrives, then starts from it', async () => {
    h = tempHome();
    const cfg = bundleConfig(h.root);
    const c = start(h.root);
    const out = lines(c.stdout);
    // Long enough for the node start and the module loads it does while it waits (not a timing assertion:
    // nothing may appear however long it waits).
    await new Promise((r) => setTimeout(r, 1500));
    expect(c.exitCode).toBeNull();
    expect(existsSync(cfg.socket)).toBe(false);
    expect(existsSync(cfg.ca)).toBe(false);
    expect(readdirSync(join(h.root, 'sock'))).toEqual([]);
    expect(out()).toEqual([]);
    c.stdin.write(`${cfg.file}\n`);
    await waitUntil('the ready line', () => out().some((l) => l.includes('"event":"ready"')));
    expect(existsSync(cfg.socket)).toBe(true);
    expect(existsSync(cfg.ca)).toBe(true);
    // The launcher's end (stdin closed) ends it.
    c.stdin.end();
    const code = await new Promise<number | null>((r) => c.once('exit', (n) => r(n)));
    expect(code === 0 || c.signalCode === 'SIGTERM').toBe(true);
  });

  it('exits at once, having made nothing, when stdin ends before a config (the CLI ran no launch, or died)', async () => {
    h = tempHome();
    const cfg = bundleConfig(h.root);
    const c = start(h.root);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.once('exit', (code, signal) => r({ code, signal })));
    c.stdin.end();
    const { code, signal } = await exit;
    expect(code === 0 || signal === 'SIGTERM').toBe(true);
    expect(readdirSync(join(h.root, 'sock'))).toEqual([]);
    expect(existsSync(cfg.ca)).toBe(false);
  });

  it('refuses a config line that is not an absolute path to a .json file', async () => {
    h = tempHome();
    const c = start(h.root);
    const err = lines(c.stderr);
    const exit = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.stdin.write('../sidecars.json\n');
    expect(await exit).toBe(1);
    expect(err().join('\n')).toContain('the config line on stdin is not an absolute path to a .json file');
  });
});

describe('the launch that takes the pre-spawned bundle', () => {
  it('gets that very process, whose command line holds the containment marker and no config path, and its teardown ends it', async () => {
    h = tempHome();
    const cfg = bundleConfig(h.root);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    prespawnBundle(env);
    let bundlePid: number | undefined;
    const stack = new TeardownStack(() => undefined);
    const ready = await hostSidecarHost(h.root, (b) => (bundlePid = b.pid)).start({
      config: JSON.parse(readFileSync(cfg.file, 'utf8')) as never,
      secrets: {},
      settings: env,
      logFile: join(h.root, 'sidecars.log'),
      teardown: stack,
    });
    const line = cmdline(bundlePid!);
    expect(line).toContain('--config-on-stdin');
    expect(line).not.toContain(cfg.file);
    const marker = ready.hostProcessMarkers.find((m) => m.startsWith('bb-launch-'));
    expect(marker).toBeDefined();
    expect(line).toContain(marker);
    await stack.unwind();
    await waitUntil('the bundle to end', () => !alive(bundlePid!), 10_000);
  });

  it('is not given a bundle started with another environment: that one is killed and a fresh one started', async () => {
    h = tempHome();
    const cfg = bundleConfig(h.root);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    prespawnBundle({ ...env, BOT_BOTTLE_SOMETHING: 'else' });
    const early = await waitUntil('the pre-spawned bundle', () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).find((p) => {
      try {
        return cmdline(p).includes('--config-on-stdin') && readFileSync(`/proc/${p}/status`, 'latin1').includes(`PPid:\t${process.pid}\n`);
      } catch {
        return false;
      }
    }));
    let bundlePid: number | undefined;
    const stack = new TeardownStack(() => undefined);
    await hostSidecarHost(h.root, (b) => (bundlePid = b.pid)).start({ config: JSON.parse(readFileSync(cfg.file, 'utf8')) as never, secrets: {}, settings: env, logFile: join(h.root, 'sidecars.log'), teardown: stack });
    expect(bundlePid).not.toBe(early);
    expect(cmdline(bundlePid!)).toContain(`--config ${cfg.file}`);
    await waitUntil('the mismatched bundle to end', () => !alive(early), 10_000);
    await stack.unwind();
  });
});

describe('a pre-spawned bundle no launch takes', () => {
  it('is killed after its hold time (an operator still answering a prompt gets a fresh one later)', async () => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      prespawnBundle(env);
      vi.advanceTimersByTime(60_000);
    } finally {
      vi.useRealTimers();
    }
    expect(await takePrespawnedBundle(sidecarsEntry(), env)).toBeUndefined();
    const own = (): number[] =>
      readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => {
        try {
          return cmdline(p).includes('--config-on-stdin') && readFileSync(`/proc/${p}/status`, 'latin1').includes(`PPid:\t${process.pid}\n`) && alive(p);
        } catch {
          return false;
        }
      });
    await waitUntil('the expired bundle to end', () => own().length === 0, 10_000);
  });
});

describe('the CLI and its pre-spawned bundle', () => {
  it('kills it when the launch fails before its bundle starts (an unknown agent)', async () => {
    h = tempHome();
    const cli = startCli(['start', 'nosuchagent', '--headless', '--prompt', 'true'], { cwd: h.cwd, env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_TRACE: '1' } });
    started = cli;
    const { code } = await cli.exited;
    expect(code).not.toBe(0);
    const pid = prespawnedPid(cli.stderr());
    expect(pid, cli.stderr()).toBeDefined();
    await waitUntil('the pre-spawned bundle to end', () => !alive(pid!) || !cmdline(pid!).includes('--config-on-stdin'), 10_000);
  });

  it('starts none for a command that launches nothing', async () => {
    h = tempHome();
    const cli = startCli(['list'], { cwd: h.cwd, env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_TRACE: '1' } });
    started = cli;
    expect((await cli.exited).code).toBe(0);
    expect(prespawnedPid(cli.stderr())).toBeUndefined();
  });

  it.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']))('leaves no bundle behind when the CLI is SIGKILLed', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    const cli = startCli(['start', 'a', '--headless', '--label', 'killed', '--prompt', 'sleep 30'], { cwd: h.cwd, env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_TRACE: '1' } });
    started = cli;
    const pid = await waitUntil('the pre-spawn trace', () => prespawnedPid(cli.stderr()), 20_000);
    cli.child.kill('SIGKILL');
    await cli.exited;
    await waitUntil('the pre-spawned bundle to end', () => !alive(pid) || !cmdline(pid).includes('--config-on-stdin'), 10_000);
  });
});

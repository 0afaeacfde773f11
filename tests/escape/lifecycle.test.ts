import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STAGE_ROOT } from '../../src/backends/bwrap/root-staging.js';
import { runBottleCli } from '../support/bottle-run.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { bundlePids, CLI, processesExactly, processesWith, startCli, waitUntil, type StartedCli } from '../support/lifecycle.js';
import { docker } from '../../src/backends/docker/cli.js';
import { containerName } from '../../src/backends/docker/names.js';
import { RUNTIME_ENV } from '../../src/backends/docker/runtime.js';
import { dockerLeftovers, OFFLINE_BUILD } from '../support/docker.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';
import { missingTool } from '../support/prereq.js';

/**
 * A bottle's life from the outside: nothing of it may outlive it, nothing
 * else may be killed in its name. Later backends join the list below.
 */
const BACKENDS = [{ name: 'bwrap', missing: missingTool('bwrap') ?? missingTool('socat', ['-V']) }];

let h: TempHome | undefined;
let started: StartedCli | undefined;
afterEach(async () => {
  await started?.kill();
  started = undefined;
  h?.cleanup();
  h = undefined;
});

const marker = (): string => `${500 + Math.floor(Math.random() * 400)}.${Math.floor(Math.random() * 1e6)}`;

/** Start a headless shell bottle running `sleep MARKER` and wait until the agent runs. */
async function sleepingBottle(backend: string, slug: string, sleep: string): Promise<{ home: TempHome; cli: StartedCli }> {
  const home = tempHome();
  h = home;
  home.writeBottle('b', 'agent_provider: {template: shell}');
  home.writeAgent('a', 'bottle: b');
  const cli = startCli(['start', 'a', '--headless', '--label', slug, '--prompt', `sleep ${sleep}`], {
    cwd: home.cwd,
    env: { BOT_BOTTLE_HOME: home.home, BOT_BOTTLE_BACKEND: backend },
  });
  started = cli;
  await waitUntil('the agent to run', () => processesExactly(`sleep ${sleep}`).length > 0 || undefined);
  return { home, cli };
}

/** Bounded: a CLI that does not notice must fail the test, not hang it. */
async function exitOf(cli: StartedCli, limitMs = 30_000): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([cli.exited.then((e) => e.code), new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), limitMs)))]);
  clearTimeout(timer);
  return result;
}

/** Once the CLI has exited: no agent, no sandbox (its command line holds the agent's), no bundle, no runtime files. */
function nothingLeft(home: TempHome, slug: string, sleep: string): void {
  expect(processesWith(`sleep ${sleep}`)).toEqual([]);
  expect(bundlePids(home.home, slug)).toEqual([]);
  expect(existsSync(join(home.home, 'state', slug, 'run'))).toBe(false);
  const stages = existsSync(STAGE_ROOT) ? readdirSync(STAGE_ROOT).filter((d) => d.startsWith(`${slug}-`)) : [];
  expect(stages).toEqual([]);
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.missing)(`bottle lifecycle: ${backend.name}`, () => {
    it('a sidecar bundle that dies mid-run stops the bottle: non-zero exit naming what died and its log, nothing left', async () => {
      const slug = `crash-${randomBytes(3).toString('hex')}`;
      const sleep = marker();
      const { home, cli } = await sleepingBottle(backend.name, slug, sleep);
      const [bundle] = bundlePids(home.home, slug);
      expect(bundle).toBeDefined();
      // The test started this CLI, so the bundle is its own to kill.
      process.kill(bundle!, 'SIGKILL');
      expect(await exitOf(cli)).toBe(125);
      expect(cli.stderr()).toContain(`the sidecar bundle (pid ${bundle}) exited unexpectedly (SIGKILL)`);
      expect(cli.stderr()).toContain(join(home.home, 'state', slug, 'sidecars.log'));
      expect(cli.stderr()).toContain(`stopping bottle ${slug}`);
      nothingLeft(home, slug, sleep);
    }, 60_000);

    it('`bot-bottle stop <slug>` from another process ends a headless bottle; its CLI tears down and exits as stopped', async () => {
      const slug = `stop-${randomBytes(3).toString('hex')}`;
      const sleep = marker();
      const { home, cli } = await sleepingBottle(backend.name, slug, sleep);
      const env = { BOT_BOTTLE_HOME: home.home };
      const stop = await runBottleCli(['stop', slug], { cwd: home.root, env });
      expect(stop.stderr).toBe('');
      expect(stop.stdout).toBe(`stopped ${slug}`);
      expect(stop.exitCode).toBe(0);
      expect(await exitOf(cli)).toBe(143);
      expect(cli.stderr()).toContain(`received SIGTERM; stopping bottle ${slug}`);
      nothingLeft(home, slug, sleep);
      const again = await runBottleCli(['stop', slug], { cwd: home.root, env });
      expect(again.stdout).toBe(`${slug} is not running`);
      expect(again.exitCode).toBe(0);
    }, 60_000);

    for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      it(`${signal} to a headless CLI stops its bottle with teardown and exit ${code}`, async () => {
        const slug = `sig-${randomBytes(3).toString('hex')}`;
        const sleep = marker();
        const { home, cli } = await sleepingBottle(backend.name, slug, sleep);
        cli.child.kill(signal);
        expect(await exitOf(cli)).toBe(code);
        expect(cli.stderr()).toContain(`received ${signal}; stopping bottle ${slug}`);
        nothingLeft(home, slug, sleep);
      }, 60_000);
    }
  });
}

/**
 * The same lives for a docker bottle: its bundle is a container, its agent
 * runs in another (under runc a host process too; under gVisor not, so the
 * agent says it runs by a file in its workspace). Nothing may be left: no
 * container, network or host firewall rule with its slug, no agent process,
 * no runtime folder.
 */
for (const runtime of ['runc', 'runsc'] as const) {
  describe.skipIf(dockerAgentMissing(runtime))(`bottle lifecycle: docker (${runtime})`, () => {
    const dockerBottle = async (slug: string, sleep: string): Promise<{ home: TempHome; cli: StartedCli }> => {
      const home = tempHome();
      h = home;
      home.writeBottle('b', 'agent_provider: {template: shell}');
      home.writeAgent('a', 'bottle: b');
      const cli = startCli(['start', 'a', '--headless', '--label', slug, '--prompt', `touch /workspace/running; sleep ${sleep}`], {
        cwd: home.cwd,
        env: { BOT_BOTTLE_HOME: home.home, BOT_BOTTLE_BACKEND: 'docker', [RUNTIME_ENV]: runtime, ...OFFLINE_BUILD.env },
      });
      started = cli;
      const running = join(home.home, 'state', slug, 'workspace', 'running');
      let exited = false;
      void cli.exited.then(() => (exited = true));
      await waitUntil('the agent to run', () => existsSync(running) || (exited ? new Error(cli.stderr()) : undefined), 180_000).then((r) => {
        if (r instanceof Error) throw r;
      });
      return { home, cli };
    };
    const nothingLeftDocker = async (home: TempHome, slug: string, sleep: string): Promise<void> => {
      expect(await dockerLeftovers(slug)).toEqual([]);
      expect(processesWith(`sleep ${sleep}`)).toEqual([]);
      expect(existsSync(join(home.home, 'state', slug, 'run'))).toBe(false);
    };

    it('a bundle container that dies mid-run stops the bottle: non-zero exit naming what died and its log, nothing left', async () => {
      const slug = `dcrash-${randomBytes(3).toString('hex')}`;
      const sleep = marker();
      const { home, cli } = await dockerBottle(slug, sleep);
      // The test started this bottle, so its bundle container is its own to kill.
      await docker(['kill', containerName(slug, 'sidecars')]);
      expect(await exitOf(cli)).toBe(125);
      expect(cli.stderr()).toContain(`the sidecar bundle container ${containerName(slug, 'sidecars')} exited unexpectedly`);
      expect(cli.stderr()).toContain(join(home.home, 'state', slug, 'sidecars.log'));
      expect(cli.stderr()).toContain(`stopping bottle ${slug}`);
      await nothingLeftDocker(home, slug, sleep);
    }, 300_000);

    it('`bot-bottle stop <slug>` from another process ends a headless bottle; its CLI tears down and exits as stopped', async () => {
      const slug = `dstop-${randomBytes(3).toString('hex')}`;
      const sleep = marker();
      const { home, cli } = await dockerBottle(slug, sleep);
      const env = { BOT_BOTTLE_HOME: home.home };
      const stop = await runBottleCli(['stop', slug], { cwd: home.root, env });
      expect(stop.stderr).toBe('');
      expect(stop.stdout).toBe(`stopped ${slug}`);
      expect(stop.exitCode).toBe(0);
      expect(await exitOf(cli)).toBe(143);
      await nothingLeftDocker(home, slug, sleep);
      expect((await runBottleCli(['stop', slug], { cwd: home.root, env })).stdout).toBe(`${slug} is not running`);
    }, 300_000);

    // One signal: how the CLI maps each to its exit is the backend-independent part, tested above for bwrap.
    for (const [signal, code] of [['SIGTERM', 143]] as const) {
      it(`${signal} to a headless CLI stops its bottle with teardown and exit ${code}`, async () => {
        const slug = `dsig-${randomBytes(3).toString('hex')}`;
        const sleep = marker();
        const { home, cli } = await dockerBottle(slug, sleep);
        cli.child.kill(signal);
        expect(await exitOf(cli)).toBe(code);
        expect(cli.stderr()).toContain(`received ${signal}; stopping bottle ${slug}`);
        await nothingLeftDocker(home, slug, sleep);
      }, 300_000);
    }
  });
}

describe('stop takes a bottle name, never a path', () => {
  it('refuses anything that is not a slug before it reaches the state folder', async () => {
    h = tempHome();
    for (const bad of ['../../etc', 'a/b', '..', '.hidden', 'UPPER', 'a\u0000b', 'x'.repeat(100)]) {
      const run = await cli(h, ['stop', bad]);
      expect(run.code, bad).toBe(1);
      expect(run.stderr, bad).toContain('is not a bottle slug');
    }
    // The longest name allocateSlug makes: a 64-char label taken twice.
    const longest = `${'l'.repeat(64)}-2`;
    expect((await cli(h, ['stop', longest])).stderr).toContain(`no bottle named ${longest}`);
    const ghost = await cli(h, ['stop', 'ghost']);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toContain('no bottle named ghost');
  });

  it('goes through the backend recorded for the bottle, which says what it could not do', async () => {
    h = tempHome();
    mkdirSync(join(h.home, 'state', 'smol'), { recursive: true });
    writeFileSync(
      join(h.home, 'state', 'smol', 'metadata.json'),
      JSON.stringify({ slug: 'smol', agent: 'a', bottles: [], backend: 'smolmachines', cwd: h.cwd, copy_cwd: false, label: 'smol', color: 'cyan', started_at: new Date().toISOString() }),
    );
    // smolmachines' own stop, with no smolvm on this PATH: it cannot look for the machine, and says so.
    const run = await cli(h, ['stop', 'smol'], { PATH: '/nonexistent' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('smolvm machine ls could not run');
    expect(run.stderr).toContain('smol may not be stopped completely');
  });
});

/**
 * Forged or stale pids files, each checked in a pid namespace and session of
 * its own with a witness process: a regression (a signal to -1, 0 or a reused
 * pid) can only hit that namespace, and shows as a dead witness.
 */
const asRoot = process.getuid?.() === 0;
const NS_FLAGS = [...(asRoot ? [] : ['--user', '--map-root-user']), '--pid', '--fork', '--mount-proc'];
const nsMissing = missingTool('setsid', ['--wait', 'unshare', ...NS_FLAGS, 'true']);

const WITNESS_SCRIPT = `
sleep 1000 & W=$!
START=$(cut -d' ' -f22 /proc/$W/stat)
BOOT=$(cat /proc/sys/kernel/random/boot_id)
sed -e "s/__W__/$W/g" -e "s/__START__/$START/g" -e "s/__STALE__/$((START + 1))/g" -e "s/__BOOT__/$BOOT/g" "$TEMPLATE" > "$PIDS"
for command in $COMMANDS; do
  if [ "$command" = stop ]; then "$NODE" "$CLI" stop "$SLUG" 2>&1; else "$NODE" "$CLI" cleanup --yes 2>&1; fi
  echo "EXIT $command=$?"
done
state=$(cut -d' ' -f3 /proc/$W/stat 2>/dev/null || echo gone)
if [ "$state" = gone ] || [ "$state" = Z ]; then echo WITNESS=dead; else echo WITNESS=alive; fi
`;

function withWitness(home: TempHome, slug: string, template: string, commands: Array<'stop' | 'cleanup'>): string {
  const state = join(home.home, 'state', slug);
  mkdirSync(join(state, 'run'), { recursive: true });
  writeFileSync(
    join(state, 'metadata.json'),
    JSON.stringify({ slug, agent: 'a', bottles: [], backend: 'bwrap', cwd: home.cwd, copy_cwd: false, label: slug, color: 'cyan', started_at: new Date().toISOString() }),
  );
  const templateFile = join(home.root, `${slug}.template.json`);
  writeFileSync(templateFile, template);
  // Its own session too: process groups span pid namespaces, and a signal to group 0 must stay in here.
  return execFileSync('setsid', ['--wait', 'unshare', ...NS_FLAGS, 'sh', '-c', WITNESS_SCRIPT], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      BOT_BOTTLE_HOME: home.home,
      NODE: process.execPath,
      CLI,
      SLUG: slug,
      TEMPLATE: templateFile,
      PIDS: join(state, 'run', 'pids.json'),
      COMMANDS: commands.join(' '),
    },
  });
}

describe.skipIf(nsMissing)('stop and cleanup signal only processes that are still the bottle\'s (bwrap pids file)', () => {
  const NOT_RUNNING = 4_194_000;
  const forged: Array<[string, string]> = [
    ['"sidecars": -1 (every process)', `{"sandbox": ${NOT_RUNNING}, "sidecars": -1}`],
    ['"sidecars": 0 (the caller\'s process group)', `{"sandbox": ${NOT_RUNNING}, "sidecars": 0}`],
    ['a bare pid that now belongs to another process', `{"sandbox": ${NOT_RUNNING}, "sidecars": __W__}`],
    ['pid -1 in the identity format', '{"boot": "__BOOT__", "sidecars": {"pid": -1, "start": 0}}'],
    ['a reused pid: same number, later start time', '{"boot": "__BOOT__", "cli": {"pid": __W__, "start": __STALE__}, "sidecars": {"pid": __W__, "start": __STALE__}}'],
    ['a pid recorded under another boot', '{"boot": "00000000-0000-4000-8000-000000000000", "cli": {"pid": __W__, "start": __START__}, "sidecars": {"pid": __W__, "start": __START__}}'],
    ['not JSON', '{"sidecars": __W__'],
  ];
  for (const [name, template] of forged) {
    it(`${name}: neither stop nor cleanup signals it, and both say so`, () => {
      h = tempHome();
      const out = withWitness(h, 'forged', template, ['stop', 'cleanup']);
      expect(out).toContain('WITNESS=alive');
      expect(out).toMatch(/not signalled/);
      expect(out).not.toContain('unexpected error');
    });
  }

  it("controls: the bottle's own processes (matching identity) are signalled", () => {
    h = tempHome();
    const orphan = withWitness(h, 'orphan', `{"boot": "__BOOT__", "sandbox": {"pid": ${NOT_RUNNING}, "start": 1}, "sidecars": {"pid": __W__, "start": __START__}}`, ['cleanup']);
    expect(orphan).toContain('stop orphan sidecar bundle of orphan');
    expect(orphan).toContain('WITNESS=dead');
    const owner = withWitness(h, 'owned', '{"boot": "__BOOT__", "cli": {"pid": __W__, "start": __START__}}', ['stop']);
    expect(owner).toContain('stopped owned');
    expect(owner).toContain('EXIT stop=0');
    expect(owner).toContain('WITNESS=dead');
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { removeSnapshot, snapshotImage, snapshotRef } from '../../../src/backends/docker/lifecycle.js';
import { removeNetwork } from '../../../src/backends/docker/network.js';
import { listDocker } from '../../../src/backends/docker/operations.js';
import { listBottleResources } from '../../../src/backends/docker/resources.js';
import { agentImageFor, commitBottle } from '../../../src/backends/docker/snapshot.js';
import { removeTree } from '../../../src/util/safe-fs.js';
import { ManifestCatalog } from '../../../src/manifest/catalog.js';
import { resolvePlan } from '../../../src/plan/resolve.js';
import { readMetadata, writeMetadata } from '../../../src/state/metadata.js';
import { bottleStatePaths } from '../../../src/state/paths.js';
import { writePids } from '../../../src/state/pids.js';
import { bootId, identify } from '../../../src/state/process-identity.js';
import { TeardownStack } from '../../../src/launch/teardown.js';
import { exitCode, guestExec } from '../../../src/backends/docker/guest-exec.js';
import { missingOfflineBase } from '../../support/docker.js';
import { launchTestBottle, quiet, type TestBottle } from '../../support/docker-bottle.js';
import { cli, tempHome } from '../../support/home.js';
import { OFFLINE_BASE_IMAGE } from '../../../src/backends/docker/images.js';
import { containerName } from '../../../src/backends/docker/names.js';

/**
 * list, stop, cleanup, commit and resume of docker bottles through the CLI,
 * against the real engine. The bottles are the test assembly of the launch's
 * pieces (docker-bottle.ts) with their state written as the launch writes it:
 * metadata naming the docker backend and the launching CLI's pids record,
 * whose "CLI" here is a process the test starts and kills.
 */
const newSlug = (): string => `dko-${randomBytes(4).toString('hex')}`;

async function leftOf(slug: string): Promise<string[]> {
  const found = (await listBottleResources()).get(slug);
  if (found === undefined) return [];
  return [...found.containers.map((c) => `container ${c.name}`), ...found.networks.map((n) => `network ${n.name}`), ...found.firewallRules.map((r) => `${r.family} rule ${r.bridge}`)];
}

/** A stand-in for the launching CLI: a process whose identity the pids record holds. */
function fakeCli(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => undefined, 1000)'], { stdio: 'ignore' });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** State as the launch writes it: metadata (docker) and the pids record naming `cliProcess`. */
async function writeLaunchState(b: TestBottle, cliProcess: ChildProcess): Promise<void> {
  await writeMetadata(b.h.home, { slug: b.slug, agent: 'a', bottles: ['b'], backend: 'docker', cwd: b.h.cwd, copy_cwd: false, label: b.slug, color: 'cyan', started_at: new Date().toISOString() });
  const id = identify(cliProcess.pid ?? 0);
  if (id === undefined) throw new Error('the stand-in CLI is not running');
  writePids(join(bottleStatePaths(b.slug, b.h.home).runDir, 'pids.json'), { boot: bootId(), cli: id });
}

async function inAgent(b: TestBottle, script: string): Promise<string> {
  const child = await guestExec(b.agent.id, { argv: ['bash', '-c', script], env: b.setup.env, workdir: b.setup.workdir });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const code = await exitCode(child);
  if (code !== 0) throw new Error(`exit ${code}: ${out}`);
  return out.trim();
}

describe.skipIf(missingOfflineBase())('docker bottle operations through the CLI (real engine)', () => {
  const upstreamNet = `bbtest-ops-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    await docker(['network', 'create', upstreamNet]);
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await removeNetwork(upstreamNet);
  });
  const standIn = (): ChildProcess => {
    const child = fakeCli();
    children.push(child);
    return child;
  };

  it('cleanup removes a bottle whose CLI was SIGKILLed, never a live one or another home\'s', async () => {
    const live = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: newSlug() });
    const orphan = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: newSlug() });
    try {
      await Promise.all([live.verdict, orphan.verdict]);
      const liveCli = standIn();
      const deadCli = standIn();
      await writeLaunchState(live, liveCli);
      await writeLaunchState(orphan, deadCli);
      expect(await listDocker(orphan.h.home)).toEqual([{ slug: orphan.slug, backend: 'docker', running: true, detail: 'agent container running' }]);

      deadCli.kill('SIGKILL');
      await exited(deadCli);
      expect((await listDocker(orphan.h.home))[0]).toMatchObject({ running: true, detail: expect.stringContaining('its CLI is gone') });
      const before = await leftOf(orphan.slug);
      expect(before).toEqual(expect.arrayContaining([expect.stringMatching(/^container .*-agent$/), expect.stringMatching(/^network .*-internal$/), expect.stringMatching(/rule bb-/)]));

      // The live bottle's home: its CLI runs, so nothing of it goes.
      const keep = await cli(live.h, ['cleanup', '--yes']);
      expect(keep.stdout).not.toContain('docker resources');
      expect(keep.stdout).not.toContain(live.slug);
      // The orphan's home: its resources go, the live bottle (another home) stays.
      const run = await cli(orphan.h, ['cleanup', '--yes']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`remove docker resources of ${orphan.slug} whose CLI is gone`);
      expect(run.stdout).not.toContain(live.slug);
      expect(await leftOf(orphan.slug)).toEqual([]);
      expect(await leftOf(live.slug)).not.toEqual([]);
      expect(await listDocker(orphan.h.home)).toEqual([{ slug: orphan.slug, backend: 'docker', running: false }]);
      expect(await inAgent(live, 'echo still-here')).toBe('still-here');
    } finally {
      expect(await orphan.stack.unwind()).toEqual([]);
      expect(await live.stack.unwind()).toEqual([]);
    }
  }, 300_000);

  it('stop from another process ends the launching CLI (non-zero) and removes containers, networks and the rule', async () => {
    const b = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: newSlug() });
    try {
      await b.verdict;
      const launching = standIn();
      await writeLaunchState(b, launching);
      const run = await cli(b.h, ['stop', b.slug]);
      expect(run).toMatchObject({ code: 0, stdout: `stopped ${b.slug}\n` });
      expect(await exited(launching)).toEqual({ code: null, signal: 'SIGTERM' });
      expect(await leftOf(b.slug)).toEqual([]);
      expect(await listDocker(b.h.home)).toEqual([{ slug: b.slug, backend: 'docker', running: false }]);
      const again = await cli(b.h, ['stop', b.slug]);
      expect(again.stdout).toBe(`${b.slug} is not running\n`);
    } finally {
      expect(await b.stack.unwind()).toEqual([]);
    }
  }, 300_000);

  it('commit (no slug: the only running bottle) then resume boots from the snapshot and keeps what the agent wrote', async () => {
    const b = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: newSlug() });
    const resumed = new TeardownStack(() => undefined);
    let committed: string | undefined;
    try {
      await b.verdict;
      await writeLaunchState(b, standIn());
      await inAgent(b, 'echo kept-across-commit > ~/note');
      const run = await cli(b.h, ['commit']);
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(new RegExp(`^committed ${b.slug} to ${snapshotRef(b.slug).replace(/[.]/g, '\\.')} \\([0-9a-f]{12}\\)`));
      const recorded = readMetadata(b.h.home, b.slug).snapshot;
      committed = recorded?.id;
      expect(recorded).toMatchObject({ image: snapshotRef(b.slug), id: await snapshotImage(b.slug) });

      // What resume plans: the snapshot, shown in the preflight.
      const dry = await cli(b.h, ['resume', b.slug, '--dry-run']);
      expect(dry.stderr).toContain(`bottle ${b.slug} is already running (agent container running)`);
      await cli(b.h, ['stop', b.slug]);
      const plan = await cli(b.h, ['resume', b.slug, '--dry-run']);
      expect(plan.stdout).toContain(`image:     ${snapshotRef(b.slug)} (committed ${recorded?.committed_at ?? '?'}`);

      const catalog = new ManifestCatalog({ home: b.h.home, cwd: b.h.cwd, userHome: b.h.userHome });
      const resumePlan = resolvePlan(catalog, {
        agent: 'a', bottles: [], backend: 'docker', backendReason: 'test', slug: b.slug, cwd: b.h.cwd, copyCwd: false,
        mode: { kind: 'headless', prompt: 'true' }, home: b.h.home, hostEnv: { PATH: process.env.PATH }, resume: true,
        snapshot: recorded ? { image: recorded.image, id: recorded.id, committedAt: recorded.committed_at } : undefined,
      });
      const image = await agentImageFor(resumePlan, quiet);
      expect(image).toEqual({ id: recorded?.id, ref: snapshotRef(b.slug), built: false });
      const again = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: b.slug, image: image.id, stack: resumed });
      await again.verdict;
      expect(await inAgent(again, 'cat ~/note')).toBe('kept-across-commit');

      // A tag that no longer points at what was committed is refused; a snapshot that is gone falls back, loudly.
      await docker(['tag', (await docker(['image', 'inspect', '--format', '{{.Id}}', 'bot-bottle/base:bookworm'])), snapshotRef(b.slug)]);
      await expect(agentImageFor(resumePlan, quiet)).rejects.toThrow(/is no longer the image `bot-bottle commit` made/);
      await removeSnapshot(b.slug);
      const said: string[] = [];
      const fresh = await agentImageFor(resumePlan, { ...quiet, log: (m) => said.push(m) });
      expect(fresh.id).not.toBe(recorded?.id);
      expect(said.join('\n')).toContain('is gone from the engine');
    } finally {
      await b.stack.unwind();
      await resumed.unwind();
      await removeSnapshot(b.slug);
      if (committed !== undefined) await docker(['image', 'rm', committed]).catch(() => undefined);
    }
  }, 300_000);

  it('cleanup removes the snapshot of a bottle whose state it deletes, and of one whose state is gone; never another home\'s', async () => {
    const h = tempHome();
    const other = tempHome();
    const [deleted, stranded, foreign] = [newSlug(), newSlug(), newSlug()];
    try {
      // A committed bottle without launching one: commit a stopped container named as its agent.
      const commitOf = async (slug: string, home: string): Promise<void> => {
        await writeMetadata(home, { slug, agent: 'a', bottles: ['b'], backend: 'docker', cwd: h.cwd, copy_cwd: false, label: slug, color: 'cyan', started_at: '2026-01-01T00:00:00Z' });
        await docker(['create', '--name', containerName(slug, 'agent'), OFFLINE_BASE_IMAGE, 'true']);
        try {
          await commitBottle(slug, home);
        } finally {
          await docker(['rm', '--force', containerName(slug, 'agent')]);
        }
      };
      await commitOf(deleted, h.home);
      await commitOf(stranded, h.home);
      await commitOf(foreign, other.home);
      removeTree(join(h.home, 'state'), bottleStatePaths(stranded, h.home).dir);

      const kept = await cli(h, ['cleanup', '--yes']);
      expect(kept.stdout).toContain(`remove commit snapshot ${snapshotRef(stranded)} of ${stranded}, whose state is gone`);
      expect(kept.stdout).not.toContain(snapshotRef(deleted));
      expect(await snapshotImage(stranded)).toBeUndefined();
      expect(await snapshotImage(deleted)).toBeDefined();

      const run = await cli(h, ['cleanup', '--state', '--all', '--yes']);
      expect(run.stdout).toContain(`remove commit snapshot ${snapshotRef(deleted)} of ${deleted}`);
      expect(run.stdout).not.toContain(foreign);
      expect(await snapshotImage(deleted)).toBeUndefined();
      expect(await snapshotImage(foreign)).toBeDefined();
    } finally {
      for (const slug of [deleted, stranded, foreign]) await removeSnapshot(slug);
      h.cleanup();
      other.cleanup();
    }
  }, 120_000);
});

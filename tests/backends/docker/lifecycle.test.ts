import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { exitCode, guestExec } from '../../../src/backends/docker/guest-exec.js';
import { cleanupDockerOrphans, commitAgent, listDockerBottles, removeSnapshot, snapshotImage, snapshotRef, stopDockerBottle } from '../../../src/backends/docker/lifecycle.js';
import { removeNetwork } from '../../../src/backends/docker/network.js';
import { listBottleResources } from '../../../src/backends/docker/resources.js';
import type { DockerRuntime } from '../../../src/backends/docker/runtime.js';
import { TeardownStack } from '../../../src/launch/teardown.js';
import { missingOfflineBase, missingRunsc } from '../../support/docker.js';
import { AGENT_SECRET, launchTestBottle, TOKEN, type TestBottle } from '../../support/docker-bottle.js';

/**
 * The docker bottle's lifecycle against the real engine: a failure right
 * after any resource exists leaves nothing behind; `list`, `stop`,
 * `cleanup` of orphans; `commit` and a resume from the snapshot.
 */
const newSlug = (): string => `dkl-${randomBytes(4).toString('hex')}`;

/** Everything docker holds for a slug: containers, networks, firewall rules. */
async function leftOf(slug: string): Promise<string[]> {
  const found = (await listBottleResources()).get(slug);
  if (found === undefined) return [];
  return [...found.containers.map((c) => `container ${c.name}`), ...found.networks.map((n) => `network ${n.name}`), ...found.firewallRules.map((r) => `${r.family} rule ${r.bridge}`)];
}

async function inAgent(b: TestBottle, script: string): Promise<string> {
  const child = await guestExec(b.agent.id, { argv: ['bash', '-c', script], env: b.setup.env, workdir: b.setup.workdir });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const code = await exitCode(child);
  if (code !== 0) throw new Error(`exit ${code}: ${out}`);
  return out.trim();
}

/** A stack that fails right after its n-th undo is registered: a launch step failing the moment its resource exists. */
class FailAfter extends TeardownStack {
  private count = 0;
  readonly labels: string[] = [];
  constructor(private readonly n: number) {
    super(() => undefined);
  }
  override defer(label: string, fn: () => unknown): void {
    super.defer(label, fn);
    this.labels.push(label);
    if (++this.count === this.n) throw new Error(`injected failure after "${label}"`);
  }
}

describe.skipIf(missingOfflineBase())('docker bottle lifecycle (real engine)', () => {
  const upstreamNet = `bbtest-lc-${randomBytes(3).toString('hex')}`;
  beforeAll(async () => {
    await docker(['network', 'create', upstreamNet]);
  });
  afterAll(async () => {
    await removeNetwork(upstreamNet);
  });

  it('a failure right after each resource exists unwinds every container, network and firewall rule', async () => {
    // A full launch first, to count its resources (and prove it gets that far).
    const full = new FailAfter(Number.MAX_SAFE_INTEGER);
    const ok = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, stack: full, slug: newSlug() });
    await ok.verdict;
    expect(await full.unwind()).toEqual([]);
    expect(await leftOf(ok.slug)).toEqual([]);
    const steps = full.labels;
    expect(steps.length).toBeGreaterThanOrEqual(10);
    expect(steps).toEqual(expect.arrayContaining(['internal network', 'egress network', 'firewall rule', 'remove agent container', 'remove bundle container', 'stop bundle']));
    for (let n = 1; n <= steps.length; n++) {
      const slug = newSlug();
      const stack = new FailAfter(n);
      await expect(launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, stack, slug })).rejects.toThrow(`injected failure after "${steps[n - 1]}"`);
      expect(await stack.unwind()).toEqual([]);
      expect({ step: steps[n - 1], left: await leftOf(slug) }).toEqual({ step: steps[n - 1], left: [] });
    }
  }, 600_000);

  it('lists a running bottle, stops it by slug, and cleanup removes an orphan whose CLI is gone', async () => {
    const running = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: newSlug() });
    const orphan = await launchTestBottle({ runtime: 'runc', egressNetwork: upstreamNet, slug: newSlug() });
    try {
      await Promise.all([running.verdict, orphan.verdict]);
      const listed = (await listDockerBottles()).find((b) => b.slug === running.slug);
      expect(listed).toMatchObject({ running: true, networks: 1, firewallRules: expect.any(Number) });
      expect(listed?.containers.map((c) => [c.role, c.running]).sort()).toEqual([
        ['agent', true],
        ['sidecars', true],
      ]);

      // The orphan's CLI "died": only cleanup runs. Everything else counts as live (other tests' bottles too).
      const cleaned = await cleanupDockerOrphans((slug) => slug !== orphan.slug);
      expect(cleaned).toEqual({ removed: [orphan.slug], failures: [] });
      expect(await leftOf(orphan.slug)).toEqual([]);
      // The bundle going away is noticed by whoever waits on it.
      expect(await orphan.bundle.died).toMatch(/exited unexpectedly/);
      expect(await leftOf(running.slug)).not.toEqual([]);

      expect(await stopDockerBottle(running.slug)).toEqual({ found: true, failures: [] });
      expect(await leftOf(running.slug)).toEqual([]);
      expect((await listDockerBottles()).some((b) => b.slug === running.slug)).toBe(false);
      expect(await stopDockerBottle(running.slug)).toEqual({ found: false, failures: [] });
    } finally {
      // What is already gone counts as undone.
      expect(await orphan.stack.unwind()).toEqual([]);
      expect(await running.stack.unwind()).toEqual([]);
    }
  }, 300_000);

  const runtimes: Array<[DockerRuntime, string | undefined]> = [
    ['runc', undefined],
    ['runsc', missingRunsc()],
  ];
  for (const [runtime, missing] of runtimes) {
    it.skipIf(missing)(`commit snapshots the agent's home (no secret in it) and a resume boots from it (${runtime})`, async () => {
      const b = await launchTestBottle({ runtime, egressNetwork: upstreamNet, slug: newSlug() });
      const resumed = new TeardownStack(() => undefined);
      try {
        await b.verdict;
        await inAgent(b, 'echo kept-across-commit > ~/note && mkdir -p ~/.cache/tool && echo x > ~/.cache/tool/state');
        const snap = await commitAgent(b.slug);
        expect(snap.ref).toBe(snapshotRef(b.slug));
        expect(await snapshotImage(b.slug)).toBe(snap.id);
        const image = await docker(['image', 'inspect', snap.ref]);
        expect(image).not.toContain(AGENT_SECRET);
        expect(image).not.toContain(TOKEN);
        expect(await b.stack.unwind()).toEqual([]);

        // Resume: a new agent container of the same bottle from the snapshot.
        const again = await launchTestBottle({ runtime, egressNetwork: upstreamNet, slug: b.slug, image: snap.id, stack: resumed });
        await again.verdict;
        expect(await inAgent(again, 'cat ~/note ~/.cache/tool/state')).toBe('kept-across-commit\nx');
        // The agent's secret environment was never in a file: the snapshot holds none.
        expect(await inAgent(again, `grep -rls "${AGENT_SECRET}" ~ /tmp /etc 2>/dev/null; true`)).toBe('');
      } finally {
        await b.stack.unwind();
        await resumed.unwind();
        await removeSnapshot(b.slug);
      }
    }, 300_000);
  }
});


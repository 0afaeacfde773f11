import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../src/backends/docker/cli.js';
import { removeSnapshot, snapshotImage, snapshotRef } from '../../src/backends/docker/lifecycle.js';
import { removeNetwork } from '../../src/backends/docker/network.js';
import { listBottleResources } from '../../src/backends/docker/resources.js';
import { readMetadata } from '../../src/state/metadata.js';
import { runBottleCli } from '../support/bottle-run.js';
import { missingOfflineBase, OFFLINE_BUILD } from '../support/docker.js';
import { tempHome, type TempHome } from '../support/home.js';

/**
 * The docker bottle's lifecycle through the whole CLI, each command its own
 * process as an operator runs them: `stop` from another terminal ends the
 * bottle and its launching CLI exits non-zero; after the launching CLI is
 * SIGKILLed, `list active` still shows the bottle and `cleanup` removes its
 * containers, networks and firewall rule; `commit` then `resume` keeps a
 * file the agent wrote in its home.
 */
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

async function leftovers(slug: string): Promise<string[]> {
  const found = (await listBottleResources()).get(slug);
  if (found === undefined) return [];
  return [...found.containers.map((c) => `container ${c.name}`), ...found.networks.map((n) => `network ${n.name}`), ...found.firewallRules.map((r) => `${r.family} rule ${r.bridge}`)];
}

describe.skipIf(missingOfflineBase())('docker lifecycle through the CLI (real engine, runc)', () => {
  const net = `bbtest-dlc-${randomBytes(3).toString('hex')}`;
  let h: TempHome;
  let env: Record<string, string>;
  const launched: ChildProcess[] = [];

  beforeAll(async () => {
    await docker(['network', 'create', net]);
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    env = {
      BOT_BOTTLE_HOME: h.home,
      BOT_BOTTLE_BACKEND: 'docker',
      BOT_BOTTLE_DOCKER_RUNTIME: 'runc',
      BOT_BOTTLE_DOCKER_BASE_IMAGE: OFFLINE_BUILD.env.BOT_BOTTLE_DOCKER_BASE_IMAGE,
      BOT_BOTTLE_DOCKER_EGRESS_NETWORK: net,
    };
  }, 120_000);

  afterAll(async () => {
    // A failed test's bottle: its CLI is killed, then cleanup removes what it left (it needs the network gone first).
    const killed = launched.filter((run) => run.exitCode === null && run.signalCode === null);
    for (const run of killed) run.kill('SIGKILL');
    await Promise.all(killed.map((run) => new Promise((resolve) => run.once('exit', resolve))));
    if (killed.length > 0) await cli(['cleanup', '--yes']);
    await removeNetwork(net);
    h.cleanup();
  }, 60_000);

  const cli = (args: string[]): ReturnType<typeof runBottleCli> => runBottleCli(args, { cwd: h.cwd, env, timeoutMs: 120_000 });

  interface Launch {
    child: ChildProcess;
    /** The CLI's exit code (128 + signal when killed) and what it printed on stderr. */
    ended: Promise<{ code: number; stderr: string }>;
  }

  /** A headless bottle whose agent runs `script`, then says it is ready and waits (bounded) to be stopped. */
  async function startWaiting(slug: string, script = 'true'): Promise<Launch> {
    const child = spawn(process.execPath, [CLI, 'start', 'a', '--label', slug, '--headless', '--prompt', `${script}; touch /workspace/ready; sleep 300`], {
      cwd: h.cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BOT_BOTTLE_STANDBY: '0', ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    launched.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    // 'exit', not 'close': the docker clients it started may keep its stderr open after a SIGKILL.
    const ended = new Promise<{ code: number; stderr: string }>((resolve) => child.once('exit', (code, signal) => resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 1), stderr })));
    const ready = join(h.home, 'state', slug, 'workspace', 'ready');
    for (let i = 0; i < 900 && child.exitCode === null && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 200));
    if (!existsSync(ready)) {
      child.kill('SIGKILL');
      throw new Error(`the bottle never got ready:\n${(await ended).stderr}`);
    }
    return { child, ended };
  }

  it('stop from another process ends the bottle; the launching CLI exits non-zero and leaves nothing behind', async () => {
    const slug = `dlc-stop-${randomBytes(2).toString('hex')}`;
    const launch = await startWaiting(slug);
    expect((await cli(['list', 'active'])).stdout).toMatch(new RegExp(`^${slug}\tdocker\trunning\t`, 'm'));
    const stop = await cli(['stop', slug]);
    expect(stop).toMatchObject({ exitCode: 0, stdout: `stopped ${slug}` });
    const ended = await launch.ended;
    expect(ended.code).toBe(143);
    expect(ended.stderr).toContain(`received SIGTERM; stopping bottle ${slug}`);
    expect(await leftovers(slug)).toEqual([]);
    expect((await cli(['list', 'active'])).stdout).toMatch(new RegExp(`^${slug}\tdocker\tstopped\t`, 'm'));
  }, 300_000);

  it('after the launching CLI is SIGKILLed, cleanup removes its containers, networks and firewall rule', async () => {
    const slug = `dlc-kill-${randomBytes(2).toString('hex')}`;
    const launch = await startWaiting(slug);
    launch.child.kill('SIGKILL');
    await launch.ended;
    expect(await leftovers(slug)).toEqual(expect.arrayContaining([`container bot-bottle-${slug}-agent`, `network bot-bottle-${slug}-internal`, expect.stringMatching(/^ipv4 rule bb-/)]));
    expect((await cli(['list', 'active'])).stdout).toMatch(new RegExp(`^${slug}\tdocker\trunning\t`, 'm'));
    const resume = await cli(['resume', slug, '--headless', '--prompt', 'true']);
    expect(resume.stderr).toContain(`bottle ${slug} is already running (its CLI is gone: \`bot-bottle cleanup\` removes what it left)`);
    const cleanup = await cli(['cleanup', '--yes']);
    expect(cleanup.exitCode, cleanup.stderr).toBe(0);
    expect(cleanup.stdout).toContain(`remove docker resources of ${slug} whose CLI is gone`);
    expect(await leftovers(slug)).toEqual([]);
  }, 300_000);

  it('commit then resume boots from the snapshot: a file the agent wrote in its home is there', async () => {
    const slug = `dlc-commit-${randomBytes(2).toString('hex')}`;
    try {
      const launch = await startWaiting(slug, 'echo kept-by-commit > ~/note');
      const commit = await cli(['commit', slug]);
      expect(commit.exitCode, commit.stderr).toBe(0);
      expect(commit.stdout).toContain(`committed ${slug} to ${snapshotRef(slug)}`);
      expect((await cli(['stop', slug])).exitCode).toBe(0);
      expect((await launch.ended).code).toBe(143);

      const resumed = await cli(['resume', slug, '--headless', '--prompt', 'cat ~/note']);
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('kept-by-commit');
      // Still committed: the next resume boots from the same snapshot.
      expect(readMetadata(h.home, slug).snapshot).toMatchObject({ image: snapshotRef(slug), id: await snapshotImage(slug) });
      expect(await leftovers(slug)).toEqual([]);
    } finally {
      await removeSnapshot(slug);
    }
  }, 300_000);
});

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../src/backends/docker/cli.js';
import { hostRules, removeFirewallRule } from '../../src/backends/docker/firewall.js';
import { bridgeName, containerName } from '../../src/backends/docker/names.js';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import { currentShape, runStandbyHelper } from '../../src/backends/docker/standby-helper.js';
import { claimStandby, expireStandby, homeStandbys, standbyKey, standbyReady, sweepStandbys } from '../../src/backends/docker/standby.js';
import { TeardownStack } from '../../src/launch/teardown.js';
import { homePaths } from '../../src/state/paths.js';
import { claudeRig, type ClaudeRig } from '../agents/claude-support.js';
import { dockerLeftovers } from '../support/docker.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';

/**
 * Docker standbys (src/backends/docker/standby.ts) through the whole CLI, as
 * an operator meets them: a launch's end makes the next launch's bundle,
 * networks, host rule and network holder; the next launch takes it, its
 * token is injected by the standby's bundle, the containment self-test passes
 * in the joined network namespace, and nothing of the standby outlives the
 * bottle. Two launches never share one; `cleanup` removes a waiting standby
 * and a claimed one whose CLI was killed; a standby whose host rule is gone
 * is refused; an idle one exits and is swept.
 */
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 200) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Whether no `__docker-standby` helper of `home` runs (a launch's end starts one, detached). */
function helpersDone(home: string): boolean {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes('\0__docker-standby\0--home\0') && cmdline.includes(`\0${home}\0`)) return false;
  }
  return true;
}

/** Pids of the processes that would expire standby `id` at its idle time (standby-helper.ts's sleeper). */
function expirySleepers(id: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('__docker-standby --home') && cmdline.endsWith(`\0${id}\0`);
    } catch {
      return false;
    }
  });
}

const curl = `curl -sS --max-time 30 -X POST -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"hi"}]}' https://api.anthropic.com/v1/messages; echo`;

for (const runtime of ['runc', 'runsc'] as DockerRuntime[]) {
  describe.skipIf(dockerAgentMissing(runtime))(`docker standbys (${runtime})`, () => {
    let rig: ClaudeRig;
    let key: string;
    const stateRoot = (): string => homePaths(rig.h.home).stateRoot;
    const claims = (): string[] => readdirSync(join(rig.h.home, 'standby', 'docker-claims'));

    beforeAll(async () => {
      rig = await claudeRig('agent_provider: {template: shell}\negress:\n  routes:\n    - host: api.anthropic.com\n      auth: {scheme: Bearer, token_ref: BOT_BOTTLE_CLAUDE_OAUTH_TOKEN}', '', { docker: runtime });
      Object.assign(rig.env, { BOT_BOTTLE_STANDBY: '1', BOT_BOTTLE_TRACE: '1' });
      key = standbyKey(await currentShape(rig.h.home, rig.env));
    }, 600_000);
    afterAll(async () => {
      // The standbys' bundles are on the test's upstream network: gone first, so it can be removed.
      if (rig !== undefined) await waitFor('the standby helpers', () => helpersDone(rig.h.home)).catch(() => undefined);
      await rig?.cli(['cleanup', '--yes']);
      await rig?.close();
    }, 120_000);

    it("a launch's end makes the next one's standby, which the next launch takes: token injected, self-test passed, nothing left", async () => {
      const first = await rig.cli(['start', 'coder', '--label', 'sb-first', '--headless', '--prompt', 'true'], 300_000);
      expect(first.exitCode, first.stderr).toBe(0);
      await waitFor('the first standby', () => standbyReady(key));
      const [id] = await homeStandbys(stateRoot());
      expect(id).toMatch(/^bb-standby-[0-9a-f]{12}$/);

      // Before its claim it holds nothing of a bottle: no knob or secret in its environment or command line.
      const inspected = await docker(['container', 'inspect', containerName(id!, 'sidecars')]);
      expect(inspected).not.toContain(rig.token);
      expect(inspected).not.toContain('BOT_BOTTLE_');
      expect(inspected).toContain('--docker-standby');
      // Its expiry waits beside it; the claim ends it.
      expect(expirySleepers(id!)).toHaveLength(1);

      const second = await rig.cli(['start', 'coder', '--label', 'sb-second', '--headless', '--prompt', `${curl}\nhostname\ngetent hosts sidecars`], 300_000);
      expect(second.exitCode, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(second.stderr).toContain(`docker standby ${id!} claimed`);
      expect(second.stderr).toContain('containment check passed');
      expect(second.stdout).toMatch(/"type":"message"/);
      expect(rig.fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${rig.token}`);
      expect(second.stdout).toMatch(/^bottle$/m);
      expect(second.stdout).toMatch(/^10\.\d+\.\d+\.\d+\s+sidecars$/m);
      expect(await dockerLeftovers('sb-second')).toEqual([]);
      expect(await dockerLeftovers(id!)).toEqual([]);
      expect(claims()).toEqual([]);
      expect(expirySleepers(id!)).toEqual([]);

      // Its end made the next one.
      await waitFor('the next standby', async () => (await homeStandbys(stateRoot())).some((other) => other !== id) && (await standbyReady(key)));
    }, 600_000);

    it('two launches at once: one takes the standby, the other makes its own; both run', async () => {
      await waitFor('a standby', () => standbyReady(key));
      const runs = await Promise.all(['sb-a', 'sb-b'].map((label) => rig.cli(['start', 'coder', '--label', label, '--headless', '--prompt', 'true'], 300_000)));
      for (const run of runs) expect(run.exitCode, run.stderr).toBe(0);
      expect(runs.filter((run) => /docker standby bb-standby-\S+ claimed/.test(run.stderr))).toHaveLength(1);
      expect(runs.filter((run) => run.stderr.includes('no docker standby waiting'))).toHaveLength(1);
      for (const label of ['sb-a', 'sb-b']) expect(await dockerLeftovers(label)).toEqual([]);
      await waitFor('the standby helpers', () => helpersDone(rig.h.home));
    }, 600_000);

    it("cleanup removes a claimed standby with its bottle when the bottle's CLI was killed, and a waiting one", async () => {
      await waitFor('a standby', () => standbyReady(key));
      const [id] = await homeStandbys(stateRoot());
      const slug = 'sb-killed';
      const child = spawn(process.execPath, [CLI, 'start', 'coder', '--label', slug, '--headless', '--prompt', 'touch /workspace/ready; sleep 300'], {
        cwd: rig.h.cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...rig.env }, stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await waitFor('the bottle to run', () => existsSync(join(stateRoot(), slug, 'workspace', 'ready')) || child.exitCode !== null, 120_000);
      child.kill('SIGKILL');
      await exited;
      // The standby's resources keep its id, and count as the bottle's (its bundle carries the bottle's name now).
      expect(await dockerLeftovers(slug)).toEqual(expect.arrayContaining([`container bot-bottle-${slug}-sidecars`, `container ${containerName(id!, 'netns')}`, `network bot-bottle-${id!}-internal`, `ipv4 rule ${bridgeName(id!, 'internal')}`]));
      expect(claims()).toEqual([id]);

      // One waits: made now, or by a helper of an earlier launch.
      const waiting = (await runStandbyHelper(rig.h.home, rig.env)) ?? (await homeStandbys(stateRoot()))[0];
      expect(waiting).toMatch(/^bb-standby-/);
      const cleanup = await rig.cli(['cleanup', '--yes']);
      expect(cleanup.exitCode, cleanup.stderr).toBe(0);
      expect(cleanup.stdout).toContain(`remove docker resources of ${slug} whose CLI is gone`);
      expect(cleanup.stdout).toContain('remove the docker standby waiting for the next launch');
      expect(await dockerLeftovers(slug)).toEqual([]);
      expect(await dockerLeftovers(waiting!)).toEqual([]);
      expect(await homeStandbys(stateRoot())).toEqual([]);
      expect(claims()).toEqual([]);
      await waitFor('the removed standby\'s expiry to end', () => expirySleepers(waiting!).length === 0, 10_000);
    }, 600_000);

    if (runtime === 'runc') {
      it('a standby whose host rule is gone is refused once claimed, and the launch unwinds all of it', async () => {
        const id = (await runStandbyHelper(rig.h.home, rig.env))!;
        for (const rule of hostRules(id, bridgeName(id, 'internal'))) await removeFirewallRule(rule);
        const stack = new TeardownStack(() => undefined);
        const claimed = await claimStandby(rig.h.home, 'sb-refused', await currentShape(rig.h.home, rig.env), stack);
        expect(claimed?.id).toBe(id);
        await expect(claimed!.verified).rejects.toThrow(/firewall rule .* is missing .* refusing it/);
        expect(await stack.unwind()).toEqual([]);
        expect(await dockerLeftovers(id)).toEqual([]);
        expect(claims()).toEqual([]);
      }, 300_000);

      it('an idle standby removes itself at its idle time: bundle, holder, networks and host rule', async () => {
        const id = (await runStandbyHelper(rig.h.home, { ...rig.env, BOT_BOTTLE_STANDBY_IDLE_S: '2' }))!;
        expect(await dockerLeftovers(id)).toEqual(expect.arrayContaining([`container ${containerName(id, 'netns')}`, `network bot-bottle-${id}-internal`]));
        await waitFor('the idle standby to be gone', async () => (await dockerLeftovers(id)).length === 0, 60_000);
        expect(claims()).toEqual([]);
      }, 300_000);

      it("the idle time's expiry leaves a standby a launch took alone", async () => {
        const id = (await runStandbyHelper(rig.h.home, rig.env))!;
        const stack = new TeardownStack(() => undefined);
        const claimed = await claimStandby(rig.h.home, 'sb-taken', await currentShape(rig.h.home, rig.env), stack);
        expect(claimed?.id).toBe(id);
        await claimed!.verified;
        expect(await expireStandby(rig.h.home, id)).toBe(false);
        expect(await dockerLeftovers('sb-taken')).toEqual(expect.arrayContaining(['container bot-bottle-sb-taken-sidecars', `container ${containerName(id, 'netns')}`]));
        expect(await stack.unwind()).toEqual([]);
        expect(await dockerLeftovers('sb-taken')).toEqual([]);
        expect(claims()).toEqual([]);
      }, 300_000);

      it('a standby whose bundle died is swept by the next helper', async () => {
        const id = (await runStandbyHelper(rig.h.home, rig.env))!;
        await docker(['kill', containerName(id, 'sidecars')]);
        await waitFor('the bundle to stop', async () => (await docker(['container', 'inspect', '--format', '{{.State.Running}}', containerName(id, 'sidecars')])) === 'false');
        expect(await standbyReady(key)).toBe(false);
        await sweepStandbys(rig.h.home, key);
        expect(await dockerLeftovers(id)).toEqual([]);
      }, 300_000);
    }
  });
}

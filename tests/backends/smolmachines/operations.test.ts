import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBottleResources } from '../../../src/backends/docker/resources.js';
import { listMachines } from '../../../src/backends/smolmachines/machine.js';
import { machineNameFor } from '../../../src/backends/smolmachines/smolvm.js';
import { runBottleCli } from '../../support/bottle-run.js';
import { missingOfflineBase, OFFLINE_BUILD } from '../../support/docker.js';
import { tempHome, type TempHome } from '../../support/home.js';
import { SMOLVM_DOUBLE_DIR, smolvmUnderTest, type SmolvmUnderTest } from '../../support/smolvm.js';

const CLI = join(import.meta.dirname, '..', '..', '..', 'dist', 'cli.js');

/**
 * `list`, `stop` and `cleanup` for smolmachines bottles, through the CLI:
 * a running bottle is listed as running and `stop` ends it (its CLI tears
 * everything down); a bottle whose CLI was killed leaves its machine, and
 * `cleanup` removes it with the bundle's container and networks.
 */
describe.skipIf(missingOfflineBase())('smolmachines list / stop / cleanup (Docker real, smolvm real or the double)', () => {
  let smol: SmolvmUnderTest;
  let h: TempHome;
  const env = (): Record<string, string> => ({
    PATH: smol.double ? [SMOLVM_DOUBLE_DIR, process.env.PATH ?? '/usr/bin:/bin'].join(delimiter) : (process.env.PATH ?? '/usr/bin:/bin'),
    BOT_BOTTLE_HOME: h.home,
    SMOLVM_DATA_DIR: smol.dataDir,
    BOT_BOTTLE_DOCKER_BASE_IMAGE: OFFLINE_BUILD.env.BOT_BOTTLE_DOCKER_BASE_IMAGE,
  });
  const waiting = 'touch /workspace/ready; for i in $(seq 600); do sleep 0.1; done';

  /** `quiet`: no pipes, so a killed CLI's children (which keep its stdout) do not hold the test up. */
  function launch(slug: string, quiet = false) {
    return execa(process.execPath, [CLI, 'start', 'a', '--backend', 'smolmachines', '--headless', '--label', slug, '--prompt', waiting], {
      cwd: h.cwd,
      env: env(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      ...(quiet ? { stdout: 'ignore' as const, stderr: 'ignore' as const } : {}),
      timeout: 240_000,
    });
  }

  async function untilReady(slug: string, child: { exitCode?: number | null }): Promise<boolean> {
    const file = join(h.home, 'state', slug, 'workspace', 'ready');
    for (let i = 0; i < 900 && !existsSync(file) && (child.exitCode ?? null) === null; i++) await new Promise((r) => setTimeout(r, 200));
    return existsSync(file);
  }

  async function leftovers(slug: string): Promise<string[]> {
    const machines = (await listMachines(smol.run)).filter((m) => m.name === machineNameFor(slug)).map((m) => `machine ${m.name}`);
    const docker = (await listBottleResources()).get(slug);
    return [...machines, ...(docker === undefined ? [] : [...docker.containers.map((c) => `container ${c.name}`), ...docker.networks.map((n) => `network ${n.name}`)])];
  }

  beforeAll(() => {
    smol = smolvmUnderTest();
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
  });

  afterAll(() => {
    smol.cleanup();
    h.cleanup();
  }, 120_000);

  it('lists a running bottle and stops it', async () => {
    const slug = `smo-${randomBytes(2).toString('hex')}`;
    const child = launch(slug);
    expect(await untilReady(slug, child)).toBe(true);
    const listed = await runBottleCli(['list', 'active'], { cwd: h.cwd, env: env() });
    expect(listed.stdout).toMatch(new RegExp(`^${slug}\\tsmolmachines\\trunning`, 'm'));
    expect(await leftovers(slug)).not.toEqual([]);
    const stopped = await runBottleCli(['stop', slug], { cwd: h.cwd, env: env(), timeoutMs: 120_000 });
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    const run = await child;
    expect(run.exitCode).not.toBe(0);
    expect(await leftovers(slug)).toEqual([]);
    const after = await runBottleCli(['list', 'active'], { cwd: h.cwd, env: env() });
    expect(after.stdout).toMatch(new RegExp(`^${slug}\\tsmolmachines\\tstopped`, 'm'));
  }, 300_000);

  it('cleanup removes the machine, bundle and networks a killed CLI left', async () => {
    const slug = `smc-${randomBytes(2).toString('hex')}`;
    const child = launch(slug, true);
    expect(await untilReady(slug, child)).toBe(true);
    child.kill('SIGKILL');
    await child;
    // The machine outlives its CLI: only cleanup removes it.
    expect((await leftovers(slug)).some((l) => l.startsWith('machine '))).toBe(true);
    const listed = await runBottleCli(['list', 'active'], { cwd: h.cwd, env: env() });
    expect(listed.stdout).toMatch(new RegExp(`^${slug}\\tsmolmachines\\t`, 'm'));
    const cleaned = await runBottleCli(['cleanup', '--yes'], { cwd: h.cwd, env: env(), timeoutMs: 120_000 });
    expect(cleaned.exitCode, cleaned.stderr).toBe(0);
    expect(cleaned.stdout).toContain(`remove the smolvm machine, bundle container and networks of ${slug} (its CLI is gone)`);
    expect(await leftovers(slug)).toEqual([]);
  }, 300_000);
});

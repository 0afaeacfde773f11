import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BottlePlan } from '../../../src/plan/types.js';
import { cli, tempHome, type TempHome } from '../../support/home.js';
import { SMOLVM_DOUBLE_DIR } from '../../support/smolvm.js';

/**
 * `start --backend smolmachines --dry-run` on any host: the plan carries the
 * boundary (bundle address, allow-list, smolvm argv, cache keys) and lists
 * the host checks that fail instead of stopping. The golden holds everything
 * but the host checks (they differ between hosts); regenerate with
 * UPDATE_GOLDEN=1 and review the diff.
 */
let h: TempHome;
beforeAll(() => {
  h = tempHome();
  cpSync('examples/bottles', join(h.home, 'bottles'), { recursive: true });
  cpSync('examples/agents', join(h.home, 'agents'), { recursive: true });
});
afterAll(() => h.cleanup());

const dryRun = (path: string, extra: string[] = []) =>
  cli(h, ['start', 'researcher', '--bottle', 'dev', '--backend', 'smolmachines', '--dry-run', '--format', 'json', '--label', 'researcher-0000', ...extra], {
    PATH: path,
    BOT_BOTTLE_CLAUDE_OAUTH_TOKEN: 'sk-ant-oat01-SECRET-VALUE-never-in-plan',
  });

describe('smolmachines dry-run plan', () => {
  it('works without smolvm: the boundary is planned and the missing smolvm is listed with its fix', async () => {
    const run = await dryRun('/usr/bin:/bin');
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('SECRET-VALUE');
    const plan = JSON.parse(run.stdout) as BottlePlan;
    const boundary = plan.boundary!;
    expect(boundary.preflight.ok).toBe(false);
    expect(boundary.preflight.failed).toContainEqual(expect.objectContaining({ check: 'smolvm', detail: 'smolvm is not on PATH', fix: expect.stringMatching(/installer/) as unknown }));
    // The one allowed destination is the bundle's own address, and it is the resolver too (DNS closed).
    expect(boundary.guest.allowCidrs).toEqual([`${boundary.bundle.address}/32`]);
    expect(boundary.guest.dns).toBe(boundary.bundle.address);
    expect(boundary.smolvm.create).toEqual(['machine', 'create', '--name', boundary.guest.machine, '--from', '<pack>', '--allow-cidr', `${boundary.bundle.address}/32`, '--dns', boundary.bundle.address]);
    expect(boundary.smolvm.create.filter((a) => a === '-e' || a === '--env')).toEqual([]);
    expect(boundary.smolvm.delete.at(-1)).toBe('-f');
    expect(existsSync(join(h.home, 'state'))).toBe(false);

    const file = 'tests/golden/researcher-smolmachines-boundary.json';
    const actual = JSON.parse(JSON.stringify({ ...boundary, preflight: '<host-specific>' }).replaceAll(h.root, '<TMP>')) as unknown;
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
    expect(actual).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });

  it('with a smolvm >= 1.8.0 on PATH the smolvm check passes', async () => {
    const run = await dryRun(`${SMOLVM_DOUBLE_DIR}:/usr/bin:/bin`);
    const plan = JSON.parse(run.stdout) as BottlePlan;
    expect(plan.boundary!.preflight.failed.map((c) => c.check)).not.toContain('smolvm');
  });

  it('the text plan shows the boundary and each failed check with its fix', async () => {
    const run = await cli(h, ['start', 'researcher', '--bottle', 'dev', '--backend', 'smolmachines', '--dry-run', '--label', 'researcher-0000'], { PATH: '/usr/bin:/bin' });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/boundary: {2}smolvm machine bb-researcher-0000-[0-9a-f]{8}, may reach only 10\.213\.\d+\.\d+\/32/);
    expect(run.stdout).toMatch(/host NOT ready \(smolvm\): smolvm is not on PATH; fix: .*installer/);
  });

  it('other backends get no boundary section (bwrap has none yet)', async () => {
    const run = await cli(h, ['start', 'researcher', '--bottle', 'dev', '--backend', 'bwrap', '--dry-run', '--format', 'json', '--label', 'researcher-0000']);
    expect((JSON.parse(run.stdout) as BottlePlan).boundary).toBeUndefined();
  });
});

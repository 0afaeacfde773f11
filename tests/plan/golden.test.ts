import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import type { BottlePlan } from '../../src/plan/types.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

/**
 * Golden plans for the shipped examples. Regenerate deliberately with
 * UPDATE_GOLDEN=1 and review the diff: a plan change is a behaviour change.
 */
let h: TempHome;
beforeAll(() => {
  h = tempHome();
  cpSync('examples/bottles', join(h.home, 'bottles'), { recursive: true });
  cpSync('examples/agents', join(h.home, 'agents'), { recursive: true });
});
afterAll(() => h.cleanup());

function normalize(plan: BottlePlan): unknown {
  return JSON.parse(JSON.stringify(plan).replaceAll(h.root, '<TMP>'));
}

const cases: Array<{ agent: string; bottles?: string[]; backend: BottlePlan['backend']; mode: BottlePlan['mode']; copyCwd?: boolean }> = [
  { agent: 'shell', backend: 'bwrap', mode: { kind: 'interactive' } },
  { agent: 'shell', backend: 'bwrap', mode: { kind: 'headless', prompt: 'echo hi' }, copyCwd: true },
  { agent: 'implementer', backend: 'docker', mode: { kind: 'interactive' } },
  { agent: 'researcher', bottles: ['dev', 'shell'], backend: 'smolmachines', mode: { kind: 'headless', prompt: 'summarise' } },
];

describe('golden --dry-run plans for the examples', () => {
  for (const c of cases) {
    const name = `${c.agent}-${c.backend}-${c.mode.kind}${c.bottles ? `-${c.bottles.join('+')}` : ''}`;
    it(name, () => {
      const plan = resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
        agent: c.agent,
        bottles: c.bottles ?? [],
        backend: c.backend,
        backendReason: 'chosen by --backend',
        slug: `${c.agent}-0000`,
        cwd: h.cwd,
        copyCwd: c.copyCwd ?? false,
        mode: c.mode,
        home: h.home,
        hostEnv: { BOT_BOTTLE_CLAUDE_OAUTH_TOKEN: 'sk-ant-oat01-SECRET-VALUE-never-in-plan', BOT_BOTTLE_GITHUB_TOKEN: 'gh-SECRET-VALUE-never-in-plan' },
        userHome: h.userHome,
      });
      const json = JSON.stringify(plan);
      expect(json).not.toContain('SECRET-VALUE');
      const file = join('tests/golden', `${name}.json`);
      const actual = normalize(plan);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
      expect(actual).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    });
  }

  it('the CLI prints the same plan and creates nothing', async () => {
    const run = await cli(h, ['start', 'shell', '--dry-run', '--format', 'json', '--label', 'shell-0000', '--backend', 'bwrap']);
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as BottlePlan;
    const golden = JSON.parse(readFileSync('tests/golden/shell-bwrap-interactive.json', 'utf8')) as BottlePlan;
    expect({ ...(normalize(plan) as BottlePlan), backendReason: '' }).toEqual({ ...golden, backendReason: '' });
    expect(plan.backendReason).toMatch(/^chosen by --backend/);
    expect(existsSync(join(h.home, 'state'))).toBe(false);
  });
});

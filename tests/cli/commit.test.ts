import { afterEach, describe, expect, it } from 'vitest';
import { writeMetadata } from '../../src/state/metadata.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

/** `commit`'s refusals, each one clear line; the snapshot itself is tested against the engine (tests/backends/docker/operations.test.ts). */
let h: TempHome;
afterEach(() => h.cleanup());

const meta = (slug: string, backend: 'bwrap' | 'docker') => ({ slug, agent: 'a', bottles: ['b'], backend, cwd: h.cwd, copy_cwd: false, label: slug, color: 'cyan' as const, started_at: '2026-01-01T00:00:00Z' });

describe('bot-bottle commit', () => {
  it('refuses a bwrap bottle in one line', async () => {
    h = tempHome();
    await writeMetadata(h.home, meta('plain', 'bwrap'));
    const run = await cli(h, ['commit', 'plain']);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: 'bot-bottle: commit snapshots docker bottles only; plain runs on bwrap\n' });
  });

  it('without a slug needs exactly one running docker bottle', async () => {
    h = tempHome();
    await writeMetadata(h.home, meta('plain', 'bwrap'));
    const run = await cli(h, ['commit']);
    expect(run).toMatchObject({ code: 1, stderr: 'bot-bottle: no docker bottle is running (commit snapshots a running one)\n' });
  });

  it.each([
    [['commit', '../x'], '"../x" is not a bottle slug'],
    [['commit', 'nobody'], 'no bottle named nobody'],
  ])('%j is refused', async (argv, message) => {
    h = tempHome();
    const run = await cli(h, argv);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});

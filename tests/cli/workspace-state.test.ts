import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeMetadata, readMetadata } from '../../src/state/metadata.js';
import { runBottleCli } from '../support/bottle-run.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { ignoredRepo, KEPT, LEFT_OUT } from '../support/ignored-repo.js';
import { processesExactly, startCli, waitUntil, type StartedCli } from '../support/lifecycle.js';
import { missingTool } from '../support/prereq.js';

/**
 * What a run leaves on the host: a `--cwd` workspace without what the repo
 * ignores, no state at all with `--rm` however the bottle ends, and otherwise
 * state kept until the operator asks (`cleanup --state` by age), with the way
 * back printed at exit.
 */
const missing = missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? missingTool('git');

let h: TempHome;
let started: StartedCli | undefined;
afterEach(async () => {
  await started?.kill();
  started = undefined;
  h.cleanup();
});

function setup(): Record<string, string> {
  h = tempHome();
  h.writeBottle('b', 'agent_provider: {template: shell}');
  h.writeAgent('a', 'bottle: b');
  return { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap' };
}

const stateDir = (slug: string): string => join(h.home, 'state', slug);
const DAY = 86_400_000;

describe.skipIf(missing)('the workspace and state of a bwrap bottle', () => {
  it('--cwd from a git checkout copies it without what git ignores; links stay links; the exit says how to resume', async () => {
    const env = setup();
    const { outsideFile } = ignoredRepo(h.root, h.cwd);
    const listing = "cd /workspace && find . -path './.git/*' -prune -o -print | sort; echo LINK=$(readlink abs-link); cat abs-link 2>/dev/null || echo NOT-READABLE; git ls-files | tr '\\n' ' '";
    const run = await runBottleCli(['start', 'a', '--cwd', '--headless', '--label', 'ws', '--prompt', listing], { cwd: h.cwd, env });
    expect(run.exitCode, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    const seen = lines.filter((l) => l.startsWith('./')).map((l) => l.slice(2));
    expect(seen).toEqual(['.git', ...KEPT].sort());
    for (const left of LEFT_OUT) expect(seen).not.toContain(left);
    // The link is the repo's own link: inside it points at a host path the bottle does not have.
    expect(lines).toContain(`LINK=${outsideFile}`);
    expect(lines).toContain('NOT-READABLE');
    expect(run.stdout).toContain('.gitignore build/keep/forced.txt src/main.ts');
    const ws = join(stateDir('ws'), 'workspace');
    expect(lstatSync(join(ws, 'abs-link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(ws, 'abs-link'))).toBe(outsideFile);
    expect(existsSync(join(ws, 'node_modules'))).toBe(false);
    expect(existsSync(join(ws, '.env'))).toBe(false);
    expect(run.stderr).toContain(`workspace: copied ${h.cwd} without 5 paths git ignores`);
    expect(run.stderr).toContain('bot-bottle: ws stopped; resume with: bot-bottle resume ws');
    expect(readMetadata(h.home, 'ws').stopped_at).toBeDefined();
    const plan = await cli(h, ['start', 'a', '--cwd', '--dry-run', '--format', 'json', '--backend', 'bwrap']);
    expect(JSON.parse(plan.stdout).workspace.skip).toBe('gitignored');
  }, 60_000);

  it('--rm leaves no state and no queue after a headless run, keeping its exit code', async () => {
    const env = setup();
    writeFileSync(join(h.cwd, 'file'), 'x');
    const run = await runBottleCli(['start', 'a', '--cwd', '--rm', '--headless', '--label', 'gone', '--prompt', 'echo out > /workspace/made; exit 3'], { cwd: h.cwd, env });
    expect(run.exitCode, run.stderr).toBe(3);
    expect(run.stderr).toContain(`deleting its state, workspace included (--rm): ${stateDir('gone')}`);
    expect(run.stderr).not.toContain('resume with');
    expect(existsSync(stateDir('gone'))).toBe(false);
    expect(existsSync(join(h.home, 'queue', 'gone'))).toBe(false);
    // resume --rm: a kept bottle goes after this run.
    expect((await runBottleCli(['start', 'a', '--headless', '--label', 'kept', '--prompt', 'true'], { cwd: h.cwd, env })).exitCode).toBe(0);
    expect(existsSync(stateDir('kept'))).toBe(true);
    const resumed = await runBottleCli(['resume', 'kept', '--rm', '--headless', '--prompt', 'true'], { cwd: h.cwd, env });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(existsSync(stateDir('kept'))).toBe(false);
  }, 90_000);

  it('--rm leaves no state after `bot-bottle stop`', async () => {
    const env = setup();
    const slug = `rmstop-${randomBytes(3).toString('hex')}`;
    const sleep = `${500 + Math.floor(Math.random() * 400)}.${Math.floor(Math.random() * 1e6)}`;
    started = startCli(['start', 'a', '--rm', '--headless', '--label', slug, '--prompt', `sleep ${sleep}`], { cwd: h.cwd, env });
    await waitUntil('the agent to run', () => processesExactly(`sleep ${sleep}`).length > 0 || undefined);
    expect(existsSync(stateDir(slug))).toBe(true);
    const stop = await runBottleCli(['stop', slug], { cwd: h.root, env });
    expect(stop.stdout).toBe(`stopped ${slug}`);
    expect((await started.exited).code).toBe(143);
    expect(started.stderr()).toContain(`deleting its state, workspace included (--rm)`);
    expect(existsSync(stateDir(slug))).toBe(false);
    expect(existsSync(join(h.home, 'queue', slug))).toBe(false);
  }, 60_000);

  it('the retention default never deletes a workspace unasked: cleanup reports, --state deletes only bottles unused for 7 days', async () => {
    const env = setup();
    for (const slug of ['old', 'recent']) {
      const run = await runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', `echo mine > /workspace/${slug}`], { cwd: h.cwd, env });
      expect(run.exitCode, run.stderr).toBe(0);
    }
    const meta = readMetadata(h.home, 'old');
    await writeMetadata(h.home, { ...meta, started_at: new Date(Date.now() - 30 * DAY).toISOString(), stopped_at: new Date(Date.now() - 29 * DAY).toISOString() });
    const work = (slug: string): string => join(stateDir(slug), 'workspace', slug);

    const plain = await cli(h, ['cleanup', '--yes']);
    expect(plain.stdout).toBe('nothing to clean up\n');
    expect(plain.stderr).toMatch(/note: 2 stopped bottles keep .* of state .*; 1 unused for 7d or more: `bot-bottle cleanup --state` deletes those/);
    expect(readFileSync(work('old'), 'utf8')).toBe('mine\n');

    const aged = await cli(h, ['cleanup', '--yes', '--state']);
    expect(aged.stdout).toMatch(/delete state of stopped bottle old \(last used 29 days ago, [\d.]+ kB; workspace included\)/);
    expect(aged.stdout).not.toContain('recent');
    expect(existsSync(stateDir('old'))).toBe(false);
    expect(readFileSync(work('recent'), 'utf8')).toBe('mine\n');

    expect((await cli(h, ['cleanup', '--yes', '--older-than', '1d'])).stderr).toContain('add --state');
    expect((await cli(h, ['cleanup', '--yes', '--state', '--older-than', 'soon'])).stderr).toContain('--older-than takes an age like 7d');
    expect(existsSync(stateDir('recent'))).toBe(true);
    expect((await cli(h, ['cleanup', '--yes', '--state', '--all'])).stdout).toContain('delete state of stopped bottle recent');
    expect(existsSync(stateDir('recent'))).toBe(false);
  }, 90_000);

  it('a bottle started with --rm whose CLI died is deleted by plain cleanup (the operator asked at start)', async () => {
    setup();
    await writeMetadata(h.home, { slug: 'killed', agent: 'a', bottles: ['b'], backend: 'bwrap', cwd: h.cwd, copy_cwd: false, label: 'killed', color: 'cyan', started_at: new Date().toISOString(), remove_at_exit: true });
    await writeMetadata(h.home, { slug: 'kept', agent: 'a', bottles: ['b'], backend: 'bwrap', cwd: h.cwd, copy_cwd: false, label: 'kept', color: 'cyan', started_at: new Date().toISOString() });
    const run = await cli(h, ['cleanup', '--yes']);
    expect(run.stdout).toContain('delete state of stopped bottle killed (started with --rm');
    expect(existsSync(stateDir('killed'))).toBe(false);
    expect(existsSync(stateDir('kept'))).toBe(true);
  });
});

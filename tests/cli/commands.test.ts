import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeMetadata } from '../../src/state/metadata.js';
import { cli, tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

describe('flags', () => {
  it('an unknown flag is a one-line error and a non-zero exit', async () => {
    h = tempHome();
    const run = await cli(h, ['start', 'x', '--bogus']);
    expect(run.code).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain("unknown option '--bogus'");
  });

  it('an unknown command is an error', async () => {
    h = tempHome();
    const run = await cli(h, ['strat']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('start');
  });

  it.each([
    [['start', 'a', '--headless'], '--headless needs --prompt TEXT'],
    [['start', 'a', '--prompt', 'x'], '--prompt is only used with --headless'],
    [['start', 'a', '--format', 'json'], '--format json is only used with --dry-run'],
    [['start', 'a', '--dry-run', '--format', 'yaml'], "Allowed choices are text, json"],
    [['start', 'a', '--dry-run', '--backend', 'vmware'], '--backend "vmware" is not a backend; choose one of: bwrap, docker, smolmachines'],
    [['start', 'a', '--dry-run', '--backend', 'bwrap', '--label', 'Bad Label!'], 'is not usable as a bottle name'],
    [['start', 'a', '--dry-run', '--backend', 'bwrap', '--color', 'mauve'], '--color "mauve" is not one of'],
    [['list', 'everything'], 'list takes nothing or "active"'],
  ])('%j is refused', async (argv, message) => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    const run = await cli(h, argv);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(message);
  });

  it('BOT_BOTTLE_BACKEND chooses the backend when no flag is given, and the flag wins over it', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    const byEnv = await cli(h, ['start', 'a', '--dry-run', '--format', 'json'], { BOT_BOTTLE_BACKEND: 'docker' });
    expect(JSON.parse(byEnv.stdout).backendReason).toMatch(/^chosen by BOT_BOTTLE_BACKEND/);
    const byFlag = await cli(h, ['start', 'a', '--dry-run', '--format', 'json', '--backend', 'smolmachines'], { BOT_BOTTLE_BACKEND: 'docker' });
    expect(JSON.parse(byFlag.stdout).backend).toBe('smolmachines');
    const badEnv = await cli(h, ['start', 'a', '--dry-run'], { BOT_BOTTLE_BACKEND: 'nope' });
    expect(badEnv.stderr).toContain('BOT_BOTTLE_BACKEND "nope" is not a backend');
  });

  it('start without an agent names the available ones', async () => {
    h = tempHome();
    h.writeAgent('alpha', 'bottle: b');
    const run = await cli(h, ['start', '--dry-run', '--backend', 'bwrap']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('available: alpha');
  });

  it('a label becomes the slug; a taken label gets a suffix', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    await writeMetadata(h.home, { slug: 'mine', agent: 'a', bottles: ['b'], backend: 'bwrap', cwd: h.cwd, copy_cwd: false, label: 'mine', color: 'red', started_at: '2026-01-01T00:00:00Z' });
    const run = await cli(h, ['start', 'a', '--dry-run', '--format', 'json', '--backend', 'bwrap', '--label', 'mine', '--color', 'blue']);
    const plan = JSON.parse(run.stdout);
    expect(plan.slug).toBe('mine-2');
    expect(plan.color).toBe('blue');
    const auto = JSON.parse((await cli(h, ['start', 'a', '--dry-run', '--format', 'json', '--backend', 'bwrap'])).stdout);
    expect(auto.slug).toMatch(/^a-[0-9a-f]{4}$/);
  });

  it('a real start refuses without a terminal instead of launching unconfirmed', async () => {
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}');
    h.writeAgent('a', 'bottle: b');
    const run = await cli(h, ['start', 'a', '--backend', 'bwrap']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no terminal|not available/);
    expect(existsSync(join(h.home, 'state'))).toBe(false);
  });
});

describe('info, list, init', () => {
  it('info shows env names (not values), skills, identity provenance and the prompt', async () => {
    h = tempHome();
    h.writeBottle('b', 'env: {LIT: "value-not-shown", S: "?"}\ngit-gate: {user: {name: B, email: b@x.example}}');
    h.writeAgent('a', 'bottle: b\nskills: [review]\ngit-gate: {user: {email: a@x.example}}', 'You review code.');
    const run = await cli(h, ['info', 'a']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('env: LIT, S (secret)');
    expect(run.stdout).not.toContain('value-not-shown');
    expect(run.stdout).toContain('skills: review');
    expect(run.stdout).toContain('git user.name:  B (bottle)');
    expect(run.stdout).toContain('git user.email: a@x.example (agent)');
    expect(run.stdout).toContain('You review code.');
  });

  it('list shows a broken agent with its error and the others normally', async () => {
    h = tempHome();
    h.writeAgent('good', 'bottle: b');
    h.writeAgent('broken', 'bottle: b\nwhat: 1');
    h.writeRepoAgent('fromrepo', 'description: x');
    const run = await cli(h, ['list']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('good\thome\tbottle: b');
    expect(run.stdout).toMatch(/broken\thome\tBROKEN: .*broken\.md:3:1: what: unknown key "what"/);
    expect(run.stdout).toContain('fromrepo\trepo\tbottle: (chosen at start)');
    const start = await cli(h, ['start', 'broken', '--dry-run', '--backend', 'bwrap']);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('unknown key "what"');
  });

  it('list active reads bottle state', async () => {
    h = tempHome();
    expect((await cli(h, ['list', 'active'])).stdout).toBe('no bottles\n');
    await writeMetadata(h.home, { slug: 's1', agent: 'a', bottles: ['b'], backend: 'bwrap', cwd: '/w', copy_cwd: true, label: 's1', color: 'green', started_at: '2026-01-01T00:00:00Z' });
    const run = await cli(h, ['list', 'active']);
    expect(run.stdout).toBe('s1\tbwrap\tstopped\tagent a\tlabel s1 (green)\n');
  });

  it('init --examples installs the examples without overwriting, and init NAME creates an agent once', async () => {
    h = tempHome();
    h.writeBottle('dev', 'env: {MINE: "1"}');
    const run = await cli(h, ['init', '--examples']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('kept');
    expect(readFileSync(join(h.home, 'bottles', 'dev.md'), 'utf8')).toContain('MINE');
    expect(existsSync(join(h.home, 'bottles', 'shell.md'))).toBe(true);
    expect(existsSync(join(h.home, 'agents', 'implementer.md'))).toBe(true);
    const created = await cli(h, ['init', 'helper', '--bottle', 'shell']);
    expect(created.code).toBe(0);
    expect(readFileSync(join(h.home, 'agents', 'helper.md'), 'utf8')).toContain('bottle: shell');
    const plan = JSON.parse((await cli(h, ['start', 'helper', '--dry-run', '--format', 'json', '--backend', 'bwrap'])).stdout);
    expect(plan.bottles.names).toEqual(['shell']);
    const again = await cli(h, ['init', 'helper']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
  });
});

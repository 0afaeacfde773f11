import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/types.js';
import type { CliContext } from '../../src/cli/context.js';
import { LaunchError } from '../../src/launch/errors.js';
import { launchPlan } from '../../src/launch/launch.js';
import { prepareState } from '../../src/launch/prepare.js';
import { TeardownStack } from '../../src/launch/teardown.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import { bottleStatePaths, queueDir } from '../../src/state/paths.js';
import { tempHome, type TempHome } from '../support/home.js';

let h: TempHome;
afterEach(() => h.cleanup());

function plan(copyCwd = false) {
  h.writeBottle('b', 'agent_provider: {template: shell}');
  h.writeAgent('a', 'bottle: b');
  return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a',
    bottles: [],
    backend: 'bwrap',
    backendReason: 'test',
    slug: 'a-0001',
    cwd: h.cwd,
    copyCwd,
    mode: { kind: 'headless', prompt: 'true' },
    home: h.home,
    hostEnv: {},
    userHome: h.userHome,
  });
}

function context(): CliContext & { err: () => string } {
  let stderr = '';
  return { home: h.home, cwd: h.cwd, env: {}, stdout: () => undefined, stderr: (t) => (stderr += t), isTTY: false, err: () => stderr };
}

/** A backend whose boundary creates something, registers its undo, then fails the way a full disk does. */
function failingBackend(error: Error, created: string[]): Backend {
  return {
    name: 'bwrap',
    availability: () => Promise.resolve({ available: true, reason: 'test' }),
    boundary: (p, ctx) => {
      const run = bottleStatePaths(p.slug, ctx.home).runDir;
      mkdirSync(queueDir(p.slug, ctx.home), { recursive: true });
      writeFileSync(join(run, 'sidecars.json'), '{}');
      created.push(run);
      ctx.teardown.defer('remove run folder', () => rmSync(run, { recursive: true, force: true }));
      return Promise.reject(error);
    },
    exec: () => Promise.resolve(0),
    attach: () => Promise.resolve(0),
    list: () => Promise.resolve([]),
    stop: () => Promise.resolve({ wasRunning: false, notes: [], incomplete: false }),
  };
}

function enospc(path: string): Error {
  return Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC', path, syscall: 'write' });
}

describe('a start that fails', () => {
  it('removes the new state folder and queue and says what to do, without a stack', async () => {
    h = tempHome();
    const p = plan();
    const ctx = context();
    const created: string[] = [];
    const error = await launchPlan(p, failingBackend(enospc(join(h.home, 'state', 'a-0001', 'run', 'ca.pem')), created), ctx, { confirm: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LaunchError);
    expect((error as Error).message).toMatch(/file system holding .*ca\.pem is full \(ENOSPC\)/);
    expect((error as Error).message).toContain('Nothing of the new bottle was left behind');
    expect((error as Error).message).toContain('bot-bottle cleanup --state');
    expect(created).toHaveLength(1);
    expect(existsSync(bottleStatePaths('a-0001', h.home).dir)).toBe(false);
    expect(existsSync(queueDir('a-0001', h.home))).toBe(false);
  });

  it("keeps a resumed bottle's workspace and state", async () => {
    h = tempHome();
    const p = plan();
    await prepareState(p, h.home, h.cwd);
    const ws = bottleStatePaths('a-0001', h.home).workspace;
    writeFileSync(join(ws, 'work'), 'precious');
    mkdirSync(queueDir('a-0001', h.home), { recursive: true });
    const error = await launchPlan(p, failingBackend(enospc(ws), []), context(), { confirm: false }).catch((e: unknown) => e);
    expect((error as Error).message).toContain("The bottle's workspace and state are kept");
    expect(readFileSync(join(ws, 'work'), 'utf8')).toBe('precious');
    expect(existsSync(bottleStatePaths('a-0001', h.home).metadata)).toBe(true);
    expect(existsSync(queueDir('a-0001', h.home))).toBe(true);
  });

  it('passes other errors through unchanged, still removing what it created', async () => {
    h = tempHome();
    const boom = new Error('bwrap exploded');
    const error = await launchPlan(plan(), failingBackend(boom, []), context(), { confirm: false }).catch((e: unknown) => e);
    expect(error).toBe(boom);
    expect(existsSync(bottleStatePaths('a-0001', h.home).dir)).toBe(false);
  });

  it('removes a half-copied workspace of a new bottle', async () => {
    h = tempHome();
    writeFileSync(join(h.cwd, 'file'), 'x');
    // A path that fits below the source but not below the workspace (PATH_MAX): the copy fails half-way.
    const dest = bottleStatePaths('a-0001', h.home).workspace;
    let deep = h.cwd;
    while (deep.length + 201 < 4090) deep = join(deep, 'd'.repeat(200));
    deep = join(deep, 'd'.repeat(4090 - deep.length - 1));
    expect(deep.length).toBe(4090);
    expect(dest.length + deep.length - h.cwd.length).toBeGreaterThan(4095);
    mkdirSync(deep, { recursive: true });
    const created = new TeardownStack(() => undefined);
    await expect(prepareState(plan(true), h.home, h.cwd, created)).rejects.toThrow(/ENAMETOOLONG/);
    expect(existsSync(join(dest, 'file'))).toBe(true);
    await created.unwind();
    expect(existsSync(bottleStatePaths('a-0001', h.home).dir)).toBe(false);
  });
});

describe('the workspace copy and the state folder', () => {
  it('copies links as links, never what they point at', async () => {
    h = tempHome();
    const secret = h.write('outside/secret.txt', 'host secret');
    symlinkSync(secret, join(h.cwd, 'abs-link'));
    symlinkSync('../outside', join(h.cwd, 'rel-dir-link'));
    const paths = await prepareState(plan(true), h.home, h.cwd);
    expect(lstatSync(join(paths.workspace, 'abs-link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(paths.workspace, 'abs-link'))).toBe(secret);
    expect(readlinkSync(join(paths.workspace, 'rel-dir-link'))).toBe('../outside');
  });

  it('refuses a state folder whose workspace or run folder is a link', async () => {
    h = tempHome();
    const p = plan();
    const elsewhere = join(h.root, 'elsewhere');
    mkdirSync(elsewhere);
    mkdirSync(bottleStatePaths('a-0001', h.home).dir, { recursive: true });
    symlinkSync(elsewhere, bottleStatePaths('a-0001', h.home).workspace);
    await expect(prepareState(p, h.home, h.cwd)).rejects.toThrow(/workspace is a symbolic link/);
    rmSync(bottleStatePaths('a-0001', h.home).workspace);
    symlinkSync(elsewhere, bottleStatePaths('a-0001', h.home).runDir);
    await expect(prepareState(p, h.home, h.cwd)).rejects.toThrow(/run is a symbolic link/);
  });

  it('refuses approved routes that are not a plain file', async () => {
    h = tempHome();
    const p = plan();
    await prepareState(p, h.home, h.cwd);
    symlinkSync('/dev/zero', bottleStatePaths('a-0001', h.home).approvedRoutes);
    await expect(prepareState(p, h.home, h.cwd)).rejects.toThrow(/approved-routes.json is a symbolic link/);
  });
});

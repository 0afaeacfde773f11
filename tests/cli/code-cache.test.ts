import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUNDLE_NODE_FLAGS } from '../../src/sidecars/node-flags.js';
import { missingTool } from '../support/prereq.js';
import { tmuxServer } from '../support/tmux.js';

/**
 * dist/cli.js runs the CLI's program (dist/cli.cjs) through V8's code cache:
 * written where missing, used when V8 accepts it, rewritten when V8 refuses
 * it, and one per node and flag set. The supervise console (an ES module of
 * its own) still loads from code restored from the cache.
 */
const DIST = join(import.meta.dirname, '..', '..', 'dist');

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A copy of the built CLI in a package folder of its own, so these runs write caches there only. */
function copyCli(): string {
  dir = mkdtempSync(join(tmpdir(), 'bb-code-cache-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bot-bottle', type: 'module' }));
  mkdirSync(join(dir, 'dist'));
  for (const f of ['cli.js', 'cli.cjs', 'console.js']) copyFileSync(join(DIST, f), join(dir, 'dist', f));
  return join(dir, 'dist');
}

const caches = (d: string): string[] => readdirSync(d).filter((f) => /^cli\.cjs\.[0-9a-f]{8}\.v8$/.test(f));

function version(d: string, env: Record<string, string> = {}): { stdout: string; trace: string } {
  const r = spawnSync(process.execPath, [join(d, 'cli.js'), '--version'], { env: { PATH: process.env.PATH ?? '', BOT_BOTTLE_TRACE: '1', ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout.trim(), trace: /code cache (.*)$/m.exec(r.stderr)?.[1] ?? r.stderr };
}

describe('the CLI code cache', () => {
  it('is written by the first run and used by the next; a cache V8 refuses is rewritten, and the CLI still runs', () => {
    const d = copyCli();
    expect(caches(d)).toEqual([]);
    const first = version(d);
    expect(first.trace).toBe('none yet, written at exit');
    expect(first.stdout).toMatch(/^\d+\.\d+\.\d+/);
    const [cache] = caches(d);
    expect(cache).toBeDefined();
    expect(version(d)).toEqual({ stdout: first.stdout, trace: 'used' });
    // Not a V8 cache at all (a truncated write, a cache from elsewhere): refused, not run.
    writeFileSync(join(d, cache!), Buffer.alloc(4096, 7));
    expect(version(d)).toEqual({ stdout: first.stdout, trace: 'refused by V8, rewritten at exit' });
    expect(version(d).trace).toBe('used');
  });

  it('keeps one cache per flag set, so runs with and without NODE_OPTIONS do not rewrite each other', () => {
    const d = copyCli();
    version(d);
    version(d, { NODE_OPTIONS: '--max-old-space-size=3000' });
    expect(caches(d)).toHaveLength(2);
    expect(version(d).trace).toBe('used');
    expect(version(d, { NODE_OPTIONS: '--max-old-space-size=3000' }).trace).toBe('used');
  });

  it('the build trains a cache the CLI uses as built', () => {
    expect(caches(DIST).length).toBeGreaterThan(0);
    expect(version(DIST).trace).toBe('used');
  });

  it("the build trains the bundle's cache for the node flags every launcher gives it, and the bundle uses it", async () => {
    dir = mkdtempSync(join(tmpdir(), 'bb-bundle-cache-'));
    const routesFile = join(dir, 'routes.json');
    writeFileSync(routesFile, '[]');
    const config = join(dir, 'sidecars.json');
    writeFileSync(config, JSON.stringify({ bottle: 'cache', egress: { listen: { socket: join(dir, 'egress.sock') }, routesFile, caCertOut: join(dir, 'ca.pem') } }));
    const child = spawn(process.execPath, [...BUNDLE_NODE_FLAGS, join(DIST, 'sidecars.js'), '--config', config], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const ready = await new Promise<{ startMs: Record<string, number> }>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
          if (line) resolve(JSON.parse(line) as { startMs: Record<string, number> });
        });
        child.once('exit', (code) => reject(new Error(`the bundle exited (${code}): ${out}`)));
      });
      expect(Object.keys(ready.startMs)).toContain('program (code cache used)');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

const noTmux = missingTool('tmux', ['-V']);
describe.skipIf(noTmux)('the supervise console from the cached program', () => {
  it('loads its own module (ink) and draws', async () => {
    const d = copyCli();
    version(d);
    const home = join(dir!, 'home');
    mkdirSync(home);
    const socket = join(dir!, 'tmux.sock');
    const { tmux, waitFor } = tmuxServer(socket);
    try {
      // Not as CI: ink draws only its last frame when it sees CI set (is-in-ci), as the suite's own run has it.
      tmux('new-session', '-d', '-s', 'console', '-x', '120', '-y', '20', 'env', '-u', 'CI', `BOT_BOTTLE_HOME=${home}`, process.execPath, join(d, 'cli.js'), 'supervise');
      await waitFor('console', 'bot-bottle supervise: 0 pending');
    } finally {
      try {
        execFileSync('tmux', ['-S', socket, 'kill-server']);
      } catch {
        // Already gone.
      }
    }
  });
});

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeUpstreamPki, route, startUpstream } from '../egress/support.js';
import { runBottleCli } from '../support/bottle-run.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { bootId, identify } from '../../src/state/process-identity.js';

let h: TempHome;
afterEach(() => h.cleanup());

const missing = missingTool('bwrap') ?? missingTool('socat', ['-V']);

describe.skipIf(missing)('resume on bwrap', () => {
  it('relaunches with the same workspace and the routes the operator approved', async () => {
    h = tempHome();
    const pki = await makeUpstreamPki(['later.test']);
    const upstream = await startUpstream(pki);
    try {
      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b');
      const env = {
        BOT_BOTTLE_HOME: h.home,
        BOT_BOTTLE_BACKEND: 'bwrap',
        BOT_BOTTLE_RESOLVE: `later.test:${upstream.port}:127.0.0.1`,
        BOT_BOTTLE_UPSTREAM_CA: h.write('ca.pem', pki.caPem),
      };
      const first = await runBottleCli(['start', 'a', '--headless', '--label', 'again', '--prompt', `echo kept > /workspace/note; curl -s -o /dev/null -w '%{http_code}' https://later.test:${upstream.port}/`], { cwd: h.cwd, env });
      // Refused by egress inside TLS (the CONNECT itself is accepted).
      expect(first.stdout).toBe('403');
      // The operator approved a route through supervise while the bottle was stopped.
      writeFileSync(join(h.home, 'state', 'again', 'approved-routes.json'), JSON.stringify([{ ...route('later.test', upstream.port), source: 'supervise' }]));
      const second = await runBottleCli(['resume', 'again', '--headless', '--prompt', `cat /workspace/note; curl -s https://later.test:${upstream.port}/`], { cwd: h.root, env });
      expect(second.stderr).not.toContain('unexpected');
      expect(second.stdout).toBe('kept\nok');
      expect(second.exitCode).toBe(0);
      const meta = JSON.parse(readFileSync(join(h.home, 'state', 'again', 'metadata.json'), 'utf8'));
      expect(meta.cwd).toBe(h.cwd);
    } finally {
      await upstream.close();
    }
  });
});

describe('resume and cleanup without a sandbox', () => {
  it('resume explains a missing bottle and refuses bad flags', async () => {
    h = tempHome();
    const missingRun = await cli(h, ['resume', 'ghost']);
    expect(missingRun.code).toBe(1);
    expect(missingRun.stderr).toContain('no usable state for bottle "ghost"');
    expect((await cli(h, ['resume', 'ghost', '--headless'])).stderr).toContain('--headless needs --prompt');
  });

  it('cleanup removes what a crashed bottle left and never touches a running one', async () => {
    h = tempHome();
    const mk = (slug: string, sandbox: { pid: number; start: number }): string => {
      const run = join(h.home, 'state', slug, 'run');
      mkdirSync(run, { recursive: true });
      writeFileSync(join(run, 'pids.json'), JSON.stringify({ boot: bootId(), sandbox, sidecars: { pid: 2 ** 22 - 3, start: 1 } }));
      writeFileSync(join(h.home, 'state', slug, 'metadata.json'), '{}');
      return run;
    };
    const crashed = mk('crashed', { pid: 2 ** 22 - 2, start: 1 });
    const running = mk('running', identify(process.pid)!);
    expect((await cli(h, ['cleanup'])).stderr).toContain('needs confirmation');
    expect(existsSync(crashed)).toBe(true);
    const run = await cli(h, ['cleanup', '--yes']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`remove runtime files of crashed`);
    expect(existsSync(crashed)).toBe(false);
    expect(existsSync(join(h.home, 'state', 'crashed', 'metadata.json'))).toBe(true);
    expect(existsSync(running)).toBe(true);
    const withState = await cli(h, ['cleanup', '--yes', '--state', '--all']);
    expect(withState.stdout).toContain('delete state of stopped bottle crashed');
    expect(existsSync(join(h.home, 'state', 'crashed'))).toBe(false);
    expect(existsSync(join(h.home, 'state', 'running'))).toBe(true);
    expect((await cli(h, ['cleanup', '--yes'])).stdout).toBe('nothing to clean up\n');
  });
});

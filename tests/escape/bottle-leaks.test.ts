import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { RUNTIME_ENV } from '../../src/backends/docker/runtime.js';
import { OFFLINE_BUILD } from '../support/docker.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';
import { missingTool } from '../support/prereq.js';

/**
 * What the bottle can read about the host that started it: the environment of
 * every process it sees (pid 1 is the sandboxing tool's own reaper, which keeps
 * the tool's environment; docker's is its init, with the container's
 * configured environment) and its mount table. Later backends join the list.
 */
const BACKENDS = [
  { name: 'bwrap', missing: missingTool('bwrap') ?? missingTool('socat', ['-V']), env: { BOT_BOTTLE_BACKEND: 'bwrap' }, pid1Allowed: ['PATH'] },
  // Docker gives every container PATH and HOSTNAME, and the image's ENV (HOME): fixed values, nothing of the operator's.
  ...(['runc', 'runsc'] as const).map((runtime) => ({
    name: `docker (${runtime})`,
    missing: dockerAgentMissing(runtime),
    env: { BOT_BOTTLE_BACKEND: 'docker', [RUNTIME_ENV]: runtime, ...OFFLINE_BUILD.env },
    pid1Allowed: ['PATH', 'HOSTNAME', 'HOME'],
  })),
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.missing)(`what the bottle learns about the host: ${backend.name}`, () => {
    let h: TempHome;
    let run: BottleRun;
    let environs: Record<string, string[]>;
    let mountinfo: string[];
    let slug: string;

    beforeAll(async () => {
      h = tempHome();
      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b');
      const probe = [
        'for p in /proc/[0-9]*; do printf "ENV %s %s\\n" "${p#/proc/}" "$(base64 -w0 < $p/environ 2>/dev/null)"; done',
        'printf "MOUNTINFO %s\\n" "$(base64 -w0 < /proc/self/mountinfo)"',
      ].join('; ');
      run = await runBottleCli(['start', 'a', '--cwd', '--headless', '--prompt', probe], {
        cwd: h.cwd,
        timeoutMs: 240_000,
        // The operator's environment, as a shell would give it: PWD and OLDPWD name host folders.
        env: { ...backend.env, BOT_BOTTLE_HOME: h.home, HOME: h.userHome, PWD: h.cwd, OLDPWD: h.userHome, LEAKY_MARKER: `marker-${h.root}` },
      });
      environs = {};
      for (const line of run.stdout.split('\n')) {
        const env = /^ENV (\d+) (\S*)$/.exec(line);
        if (env) environs[env[1]!] = Buffer.from(env[2] ?? '', 'base64').toString('latin1').split('\0').filter((e) => e.length > 0);
      }
      const mi = /^MOUNTINFO (\S+)$/m.exec(run.stdout)?.[1] ?? '';
      mountinfo = Buffer.from(mi, 'base64').toString('utf8').split('\n').filter((l) => l.length > 0);
      slug = readdirSync(join(h.home, 'state'))[0] ?? '';
    }, 300_000);

    afterAll(() => h?.cleanup());

    it('runs the probe', () => {
      expect(run.stderr).not.toContain('unexpected error');
      expect(run.exitCode).toBe(0);
      expect(environs['1']).toBeDefined();
      expect(mountinfo.length).toBeGreaterThan(5);
    });

    it("gives the sandbox's pid 1 an environment with nothing of the operator's", () => {
      const names = (environs['1'] ?? []).map((e) => e.slice(0, e.indexOf('=')));
      for (const name of names) expect(backend.pid1Allowed.includes(name), `pid 1 holds ${name}`).toBe(true);
    });

    it('shows no process in the bottle a host folder or value through its environment', () => {
      for (const [pid, env] of Object.entries(environs)) {
        for (const entry of env) expect(entry.includes(h.root), `pid ${pid}: ${entry}`).toBe(false);
      }
    });

    it("names no host folder in the mount table but the bottle's own state folder", () => {
      // A bind mount shows its source's path within its file system, whatever path it was bound
      // from (docs/architecture.md): the bottle's own state folder is the one host path it sees.
      const own = join(h.home, 'state', slug);
      for (const line of mountinfo) {
        expect(line.includes(h.cwd), line).toBe(false);
        expect(line.includes(h.userHome), line).toBe(false);
        if (line.includes(h.root)) expect(line.split(' ')[3]?.startsWith(`${own}/`), line).toBe(true);
      }
    });
  });
}

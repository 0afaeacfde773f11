import { chownSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { RUNTIME_ENV } from '../../src/backends/docker/runtime.js';
import { OFFLINE_BUILD } from '../support/docker.js';
import { dockerAgentMissing } from '../support/docker-upstream.js';
import { missingTool } from '../support/prereq.js';

/**
 * The workspace and a repository are hostile input to the host side of a
 * launch: links planted in them (by a repo copied with --cwd, by the agent
 * before a `resume`, or inside a skill folder) must never make bot-bottle
 * change, copy or reveal the host file they point at. Every victim here is a
 * file this test made (never a real system file: on broken code it would be
 * chowned). Later backends join the list below.
 */
const BACKENDS = [
  { name: 'bwrap', missing: missingTool('bwrap') ?? missingTool('socat', ['-V']), env: { BOT_BOTTLE_BACKEND: 'bwrap' } },
  // Docker lends the workspace to the agent's uid for the run (a chown as root) and gives it back: through no link.
  ...(['runc', 'runsc'] as const).map((runtime) => ({
    name: `docker (${runtime})`,
    missing: dockerAgentMissing(runtime),
    env: { BOT_BOTTLE_BACKEND: 'docker', [RUNTIME_ENV]: runtime, ...OFFLINE_BUILD.env },
  })),
];

const asRoot = process.getuid?.() === 0;
/** An owner no launch would ever pick, so any chown through a link shows. */
const VICTIM_ID = asRoot ? 4321 : (process.getuid?.() ?? 0);

interface Owner {
  uid: number;
  gid: number;
  mode: number;
}

function owner(path: string): Owner {
  const s = lstatSync(path);
  return { uid: s.uid, gid: s.gid, mode: s.mode };
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.missing)(`host files behind links: ${backend.name}`, () => {
    let h: TempHome;
    let env: Record<string, string>;
    let slug: string;
    let first: BottleRun;
    let second: BottleRun;
    const victims: Record<string, Owner> = {};
    let victimPaths: { file: string; dir: string; planted: string; skillTarget: string };
    let setIdMode = 0;

    beforeAll(async () => {
      h = tempHome();
      victimPaths = {
        file: h.write('victims/host-secret.txt', 'host-secret-contents\n'),
        dir: join(h.root, 'victims', 'host-dir'),
        planted: h.write('victims/planted-later.txt', 'planted\n'),
        skillTarget: h.write('victims/skill-target.txt', 'skill-target-secret\n'),
      };
      mkdirSync(victimPaths.dir);
      writeFileSync(join(victimPaths.dir, 'inside.txt'), 'inside\n');
      for (const path of [...Object.values(victimPaths), join(victimPaths.dir, 'inside.txt'), join(h.root, 'victims')]) {
        if (asRoot) chownSync(path, VICTIM_ID, VICTIM_ID);
        victims[path] = owner(path);
      }
      // A repository that ships links to host files; --cwd copies it into the workspace.
      symlinkSync(victimPaths.file, join(h.cwd, 'link-to-file'));
      symlinkSync(victimPaths.dir, join(h.cwd, 'link-to-dir'));
      writeFileSync(join(h.cwd, 'README'), 'repo\n');
      // A skill folder with a link out of it.
      const skill = join(h.userHome, '.claude', 'skills', 'sk');
      mkdirSync(skill, { recursive: true });
      writeFileSync(join(skill, 'SKILL.md'), 'skill body\n');
      symlinkSync(victimPaths.skillTarget, join(skill, 'leak'));

      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b\nskills: [sk]');
      env = { ...backend.env, BOT_BOTTLE_HOME: h.home, HOME: h.userHome };
      const agentScript = [
        `ln -s ${victimPaths.planted} /workspace/planted-link`,
        `ln -s ${h.root}/victims /workspace/planted-dir-link`,
        'echo mine > /workspace/agent-file',
        'mkdir /workspace/agent-dir',
        'cp /bin/true /workspace/setid && chmod 6755 /workspace/setid',
        'echo "SKILL=$(cat ~/.claude/skills/sk/SKILL.md)"',
        'echo "LEAK=$(cat ~/.claude/skills/sk/leak 2>&1)"',
      ].join('; ');
      first = await runBottleCli(['start', 'a', '--cwd', '--headless', '--label', 'links', '--prompt', agentScript], { cwd: h.cwd, env, timeoutMs: 240_000 });
      slug = readdirSync(join(h.home, 'state'))[0] ?? 'links';
      // Read before the resume: a later chown by root would clear set-id bits by itself.
      setIdMode = lstatSync(join(h.home, 'state', slug, 'workspace', 'setid')).mode;
      second = await runBottleCli(['resume', slug, '--headless', '--prompt', 'ls /workspace >/dev/null; echo resumed'], { cwd: h.root, env, timeoutMs: 240_000 });
    }, 600_000);

    afterAll(() => h?.cleanup());

    it('runs the bottle and resumes it', () => {
      expect(first.stderr).not.toContain('unexpected error');
      expect(first.exitCode).toBe(0);
      expect(second.stderr).not.toContain('unexpected error');
      expect(second.stdout).toContain('resumed');
      expect(second.exitCode).toBe(0);
    });

    it('never changes a host file through a link shipped by the repo or planted by the agent', () => {
      for (const [path, before] of Object.entries(victims)) expect(owner(path), path).toEqual(before);
    });

    it('leaves the operator owning every file of the workspace, the agent\'s included, links kept as links', () => {
      const ws = join(h.home, 'state', slug, 'workspace');
      const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      for (const name of ['', 'README', 'agent-file', 'agent-dir', 'setid', 'planted-link', 'link-to-file', 'link-to-dir']) {
        const s = lstatSync(join(ws, name));
        expect({ name, uid: s.uid, gid: s.gid }).toEqual({ name, ...me });
      }
      expect(lstatSync(join(ws, 'link-to-file')).isSymbolicLink()).toBe(true);
      expect(lstatSync(join(ws, 'planted-link')).isSymbolicLink()).toBe(true);
    });

    it('never turns a file the agent wrote into a set-id program on the host', () => {
      expect(setIdMode & 0o6000).toBe(0);
      expect(setIdMode & 0o111).not.toBe(0);
    });

    it('copies a skill without following links out of it', () => {
      expect(first.stdout).toContain('SKILL=skill body');
      expect(first.stdout).toContain('LEAK=');
      expect(first.stdout).not.toContain('skill-target-secret');
    });
  });
}

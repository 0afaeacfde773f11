import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxArgs } from '../../src/backends/bwrap/sandbox-args.js';
import { envFile } from '../../src/backends/docker/guest-exec.js';
import { missingDockerEngine } from '../support/docker.js';
import { runBottleCli } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * A NUL in a manifest value must never become sandbox options: bwrap reads
 * its options NUL-separated (`--args`), so `x\0--share-net` in an env value
 * would hand the agent the host's network and `x\0--bind\0/\0/hostroot` the
 * host's files. Both are refused before the sandbox tool runs, with the
 * file, line and key named; each backend's argument builder refuses one too.
 * Docker puts no value on a command line: the agent's environment goes to
 * `docker exec` as an env file, read line by line, whose builder refuses a
 * NUL or a line break (a second line would be a second variable).
 */
const BACKENDS = [
  {
    name: 'bwrap',
    missing: missingTool('bwrap') ?? missingTool('socat', ['-V']),
    buildArgs: (env: Record<string, string>) =>
      sandboxArgs({
        mounts: { workspace: '/w', socketDir: '/s', seedDir: '/seed', caFile: '/ca', caBundle: '/cab', etcPasswd: '/p', etcGroup: '/g', etcHosts: '/h', initScript: '/i', extra: [] },
        env,
        hostname: 'x',
        workdir: '/workspace',
        newSession: true,
      }),
    refusal: /contains a NUL character/,
  },
  { name: 'docker', missing: missingDockerEngine(), buildArgs: envFile, refusal: /A spans lines/ },
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.missing)(`NUL never becomes a sandbox option: ${backend.name}`, () => {
    let h: TempHome;
    let bin: string;
    const run = (agent: string, prompt: string) =>
      runBottleCli(['start', agent, '--headless', '--prompt', prompt], {
        cwd: h.cwd,
        env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: backend.name, PATH: `${bin}:${process.env.PATH ?? ''}` },
      });
    const expectNothingStarted = (stderr: string) => {
      expect(stderr).not.toContain('unexpected error');
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(existsSync(join(h.home, 'state')) ? readdirSync(join(h.home, 'state')) : []).toEqual([]);
    };

    beforeAll(() => {
      h = tempHome();
      h.writeBottle('net', 'agent_provider: {template: shell}\nenv:\n  A: "x\\u0000--share-net"');
      h.writeAgent('net', 'bottle: net');
      h.writeBottle('bind', 'agent_provider: {template: shell}\nenv:\n  B: "x\\u0000--bind\\u0000/\\u0000/hostroot"');
      h.writeAgent('bind', 'bottle: bind');
      // A stand-in claude: the agent body becomes its --append-system-prompt argument.
      bin = join(h.userHome, 'bin');
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, 'claude'), '#!/bin/sh\necho "RAN $#"\n');
      chmodSync(join(bin, 'claude'), 0o755);
      h.writeBottle('c', 'agent_provider: {template: claude}');
      h.writeAgent('body', 'bottle: c', 'Be helpful.\u0000--share-net');
    });

    afterAll(() => h?.cleanup());

    it('refuses an env value that would add --share-net, before the sandbox exists', async () => {
      const r = await run('net', 'cat /proc/net/dev');
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`${join(h.home, 'bottles', 'net.md')}:4:6: env.A: contains the control character NUL (U+0000) at character 2`);
      expect(r.stdout).not.toContain('Inter-');
      expectNothingStarted(r.stderr);
    });

    it('refuses an env value that would bind the host root into the bottle', async () => {
      const r = await run('bind', 'ls /hostroot/etc >/dev/null && echo BOUND');
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('bind.md:4:6: env.B: contains the control character NUL (U+0000)');
      expect(r.stdout).not.toContain('BOUND');
      expectNothingStarted(r.stderr);
    });

    it('refuses an agent body with a NUL with a located error, not a stack trace', async () => {
      const r = await run('body', 'hi');
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`${join(h.home, 'agents', 'body.md')}:4:12: contains the control character NUL (U+0000)`);
      expect(r.stdout).not.toContain('RAN');
      expectNothingStarted(r.stderr);
    });

    it("the backend's argument builder throws on a NUL handed to it directly, without showing the value", () => {
      const build = () => backend.buildArgs({ A: 'value-part\u0000--share-net' });
      expect(build).toThrow(backend.refusal);
      expect(build).not.toThrow(/value-part/);
      expect(() => backend.buildArgs({ A: 'x\u0000--bind\u0000/\u0000/hostroot' })).toThrow(backend.refusal);
    });
  });
}

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeGithubToken, startSshd, type Sshd } from '../git-gate/support.js';
import { runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { dockerAgentMissing, dockerBottleEnv, startDockerUpstream, type DockerUpstream } from '../support/docker-upstream.js';
import { missingTool } from '../support/prereq.js';

/**
 * The whole write path from inside a real bottle: the agent's plain
 * `git clone <upstream>` is routed to the gate by provisioning, pushes land
 * upstream over SSH with a key the agent never sees, and policy holds.
 * Docker's gate runs in the bundle container: it reaches the forge (an sshd
 * on the host's loopback) through a forwarder on the host's address of a
 * network the test owns, which the bundle joins as its outside leg.
 */
const sshdMissing = missingTool('/usr/sbin/sshd', ['-V']);
const BACKENDS = [
  { name: 'bwrap', missing: missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? sshdMissing, runtime: undefined },
  ...(['runc', 'runsc'] as const).map((runtime) => ({ name: `docker (${runtime})`, missing: dockerAgentMissing(runtime) ?? sshdMissing, runtime })),
];

/** Forwards connections on `host` (a random port) to the loopback `port`. */
async function forwarder(host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => {
    const u = connect(port, '127.0.0.1');
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as { port: number }).port };
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.missing)(`git through the gate from inside a ${backend.name} bottle`, () => {
    let h: TempHome;
    let sshd: Sshd;
    let run: BottleRun;
    let upstream: string;
    let up: DockerUpstream | undefined;
    let forward: Server | undefined;
    const gitEnv = (home: string) => ({ ...process.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1' });

    beforeAll(async () => {
      h = tempHome();
      sshd = await startSshd();
      upstream = join(sshd.dir, 'up.git');
      const seed = join(h.root, 'seed');
      mkdirSync(seed);
      execFileSync('git', ['init', '-q', '--bare', '-b', 'main', upstream]);
      execFileSync('git', ['init', '-q', '-b', 'main', seed]);
      const g = (...args: string[]) => execFileSync('git', ['-C', seed, '-c', 'user.name=Seed', '-c', 'user.email=seed@example.com', ...args], { env: gitEnv(h.userHome) });
      g('commit', '-q', '--allow-empty', '-m', 'initial');
      g('push', '-q', upstream, 'main');
      let forge = { host: '127.0.0.1', port: sshd.port };
      let env: Record<string, string> = { BOT_BOTTLE_BACKEND: 'bwrap' };
      if (backend.runtime !== undefined) {
        up = await startDockerUpstream();
        const f = await forwarder(up.hostAddress, sshd.port);
        forward = f.server;
        forge = { host: up.hostAddress, port: f.port };
        env = dockerBottleEnv(up, backend.runtime);
      }
      const url = `ssh://root@${forge.host}:${forge.port}${upstream}`;
      h.writeBottle(
        'gated',
        `agent_provider: {template: shell}
git-gate:
  user: {name: Gate Bot, email: gatebot@example.com}
  repos:
    app:
      url: "${url}"
      identity: ${sshd.identityFile}
      host_key: "${sshd.hostKey}"
      branches: ["bot/*"]`,
      );
      h.writeAgent('dev', 'bottle: gated');
      const secret = fakeGithubToken();
      const script = [
        'set +e',
        `git clone -q ${url} app 2>&1 && echo CLONED`,
        'cd app',
        'git checkout -q -b bot/feature',
        'echo hello > hello.txt && git add hello.txt && git commit -q -m "add hello"',
        'git push -q origin bot/feature 2>&1 && echo PUSHED-BOT',
        'git push origin HEAD:main > /tmp/main.log 2>&1 || echo REFUSED-MAIN',
        `printf 'token = "%s"\\n' '${secret}' > cfg.txt && git add cfg.txt && git commit -q -m "config"`,
        'git push origin bot/feature > /tmp/secret.log 2>&1 || echo REFUSED-SECRET',
        'grep -q "secret scan" /tmp/secret.log && echo SAID-SECRET-SCAN',
        `grep -q '${secret}' /tmp/secret.log && echo LEAKED-IN-MESSAGE`,
        'ls ~/.ssh 2>/dev/null | wc -l | sed "s/^/SSH-FILES /"',
        // Around the gate, straight to the forge: its address is the host's, which the bottle must not reach.
        `timeout 5 bash -c 'exec 3<>/dev/tcp/${forge.host}/${forge.port}' 2>/dev/null && echo FORGE-DIRECT-OPEN || echo FORGE-DIRECT-CLOSED`,
      ].join('\n');
      run = await runBottleCli(['start', 'dev', '--headless', '--prompt', script], {
        cwd: h.cwd,
        env: { ...env, BOT_BOTTLE_HOME: h.home },
        timeoutMs: 240_000,
      });
    }, 300_000);

    afterAll(async () => {
      await new Promise<void>((r) => (forward ? forward.close(() => r()) : r()));
      await up?.close();
      await sshd?.stop();
      h?.cleanup();
    });

    it('clones the upstream URL through the gate', () => {
      expect(run.stdout, run.stderr).toContain('CLONED');
    });

    it('lands an allowed push upstream with the bottle identity', () => {
      expect(run.stdout).toContain('PUSHED-BOT');
      const log = execFileSync('git', ['--git-dir', upstream, 'log', '-1', '--format=%an <%ae> %s', 'bot/feature'], { encoding: 'utf8' }).trim();
      expect(log).toBe('Gate Bot <gatebot@example.com> add hello');
    });

    it('refuses a branch outside `branches` and a push carrying a secret, leaving upstream unchanged', () => {
      expect(run.stdout).toContain('REFUSED-MAIN');
      expect(run.stdout).toContain('REFUSED-SECRET');
      expect(run.stdout).toContain('SAID-SECRET-SCAN');
      expect(run.stdout).not.toContain('LEAKED-IN-MESSAGE');
      const subjects = execFileSync('git', ['--git-dir', upstream, 'log', '--all', '--format=%s'], { encoding: 'utf8' });
      expect(subjects).not.toContain('config');
      expect(execFileSync('git', ['--git-dir', upstream, 'log', '-1', '--format=%s', 'main'], { encoding: 'utf8' }).trim()).toBe('initial');
    });

    it('never gives the agent an SSH key, nor a way to the forge around the gate', () => {
      expect(run.stdout).toContain('SSH-FILES 0');
      expect(run.stdout).toContain('FORGE-DIRECT-CLOSED');
    });
  });
}

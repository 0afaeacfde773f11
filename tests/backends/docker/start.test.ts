import { secretSightings } from '../../support/docker-sightings.js';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { ensureSidecarsImage } from '../../../src/backends/docker/images.js';
import { removeNetwork } from '../../../src/backends/docker/network.js';
import { listBottleResources } from '../../../src/backends/docker/resources.js';
import type { DockerRuntime } from '../../../src/backends/docker/runtime.js';
import { findOnPath } from '../../../src/backends/probe.js';
import { CHECKS } from '../../../src/containment/checks.js';
import { makeUpstreamPki } from '../../egress/support.js';
import { runBottleCli } from '../../support/bottle-run.js';
import { missingOfflineBase, missingRunsc, OFFLINE_BUILD } from '../../support/docker.js';
import { addressOn, quiet } from '../../support/docker-bottle.js';
import { tempHome, type TempHome } from '../../support/home.js';

/**
 * `bot-bottle start --backend docker`, the whole CLI against the real engine,
 * under runc and gVisor: the headless shell agent passes the containment
 * self-test, reaches a routed HTTPS upstream (a container on the egress
 * network) with the token injected, and sees no secret anywhere (its env,
 * its files, `docker inspect`); two bottles started at once cannot reach
 * each other; a failure at each launch step leaves no container, network or
 * firewall rule behind.
 */
const TOKEN = `ghp_${randomBytes(18).toString('hex')}`;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

async function leftovers(slug: string): Promise<string[]> {
  const found = (await listBottleResources()).get(slug);
  if (found === undefined) return [];
  return [...found.containers.map((c) => `container ${c.name}`), ...found.networks.map((n) => `network ${n.name}`), ...found.firewallRules.map((r) => `${r.family} rule ${r.bridge}`)];
}

describe.skipIf(missingOfflineBase())('start --backend docker (real engine, whole CLI)', () => {
  const upstreamNet = `bbtest-up-${randomBytes(3).toString('hex')}`;
  let upstream = '';
  let h: TempHome;
  let pkiDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    const image = await ensureSidecarsImage(quiet);
    const pki = await makeUpstreamPki(['upstream.test']);
    pkiDir = mkdtempSync(join(tmpdir(), 'bb-upstream-pki-'));
    writeFileSync(join(pkiDir, 'key.pem'), pki.keyPem);
    writeFileSync(join(pkiDir, 'cert.pem'), pki.certPem);
    writeFileSync(join(pkiDir, 'ca.pem'), pki.caPem);
    await docker(['network', 'create', upstreamNet]);
    // An HTTPS upstream on the network the bundles' outside legs join: it answers with a hash of the Authorization it got.
    const server =
      "const fs=require('fs');require('https').createServer({key:fs.readFileSync('/pki/key.pem'),cert:fs.readFileSync('/pki/cert.pem')},(q,s)=>s.end(JSON.stringify({auth:require('crypto').createHash('sha256').update(q.headers.authorization||'').digest('hex'),url:q.url}))).listen(8443)";
    upstream = await docker(['run', '--detach', '--rm', '--network', upstreamNet, '--network-alias', 'upstream.test', '--mount', `type=bind,source=${pkiDir},target=/pki,readonly`, '--label', 'bot-bottle.test=upstream', image.id, 'node', '-e', server]);
    const upstreamIp = await addressOn(upstream, upstreamNet);
    h = tempHome();
    h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  AGENT_SECRET: ${AGENT_SECRET_HOST}\negress:\n  routes:\n    - host: upstream.test\n      port: 8443\n      auth: {scheme: Bearer, token_ref: DKB_TOKEN}');
    h.writeAgent('a', 'bottle: b');
    env = {
      BOT_BOTTLE_HOME: h.home,
      BOT_BOTTLE_BACKEND: 'docker',
      BOT_BOTTLE_DOCKER_BASE_IMAGE: OFFLINE_BUILD.env.BOT_BOTTLE_DOCKER_BASE_IMAGE,
      BOT_BOTTLE_DOCKER_EGRESS_NETWORK: upstreamNet,
      BOT_BOTTLE_UPSTREAM_CA: join(pkiDir, 'ca.pem'),
      BOT_BOTTLE_RESOLVE: `upstream.test:8443:${upstreamIp}`,
      DKB_TOKEN: TOKEN,
      AGENT_SECRET_HOST: 'agent-only-value',
    };
  }, 600_000);

  afterAll(async () => {
    if (upstream) await docker(['rm', '--force', upstream]).catch(() => undefined);
    await removeNetwork(upstreamNet);
    rmSync(pkiDir, { recursive: true, force: true });
    h.cleanup();
  }, 60_000);

  for (const [runtime, missing] of [
    ['runc', undefined],
    ['runsc', missingRunsc()],
  ] as Array<[DockerRuntime, string | undefined]>) {
    describe.skipIf(missing)(`under ${runtime}`, () => {
      const runEnv = (): Record<string, string> => ({ ...env, BOT_BOTTLE_DOCKER_RUNTIME: runtime });

      it('passes the self-test, reaches the routed upstream with the token injected, and shows the token nowhere', async () => {
        const slug = `dks-${runtime}-${randomBytes(2).toString('hex')}`;
        // The agent reports, then waits until the test has looked at its containers from outside.
        const script = [
          'curl -sS --max-time 20 https://upstream.test:8443/hello; echo',
          // Keys only: the token itself never goes into the bottle (the test searches for it from outside, below).
          `echo FILES-WITH-KEY=$(grep -rlsE "PRIVATE KEY" /etc /home /tmp /run /var /workspace 2>/dev/null | wc -l)`,
          'echo AGENT-SECRET=$AGENT_SECRET',
          'touch /workspace/ready; for i in $(seq 150); do [ -f /workspace/go ] && break; sleep 0.2; done',
        ].join('; ');
        const running = runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', script], { cwd: h.cwd, env: runEnv(), timeoutMs: 240_000 });
        let finished = false;
        void running.then(() => (finished = true));
        const workspace = join(h.home, 'state', slug, 'workspace');
        for (let i = 0; i < 600 && !finished && !existsSync(join(workspace, 'ready')); i++) await new Promise((r) => setTimeout(r, 200));
        const ready = existsSync(join(workspace, 'ready'));
        const inspected = ready ? await docker(['inspect', `bot-bottle-${slug}-agent`, `bot-bottle-${slug}-sidecars`]) : '';
        const runtimes = ready ? await docker(['inspect', '--format', '{{.HostConfig.Runtime}}', `bot-bottle-${slug}-agent`, `bot-bottle-${slug}-sidecars`]) : '';
        // Every process's environment and every readable file of the agent container, searched from outside.
        const sightings = ready ? await secretSightings(slug, TOKEN) : ['the agent never reported ready'];
        if (ready) writeFileSync(join(workspace, 'go'), '');
        const run = await running;
        expect(run.stderr).not.toContain('unexpected error');
        expect(run.exitCode, run.stderr).toBe(0);
        expect(run.stderr).toContain(`runtime ${runtime === 'runsc' ? 'gVisor (runsc' : 'runc'}`);
        // The agent under the chosen runtime; the bundle, bot-bottle's own, under runc (runtime.ts).
        expect(runtimes.split('\n')).toEqual([runtime, 'runc']);
        expect(inspected).not.toContain(TOKEN);
        expect(inspected).not.toContain('agent-only-value');
        const answer = run.stdout.split('\n').find((l) => l.startsWith('{'));
        expect(answer === undefined ? run.stdout : JSON.parse(answer)).toEqual({ auth: sha(`Bearer ${TOKEN}`), url: '/hello' });
        expect(sightings).toEqual([]);
        expect(run.stdout).toContain('FILES-WITH-KEY=0');
        expect(run.stdout).toContain('AGENT-SECRET=agent-only-value');
        const record = JSON.parse(readFileSync(join(h.home, 'state', slug, 'containment.json'), 'utf8')) as { result: string; checks: Array<{ id: string; status: string }> };
        expect(record.result).toBe('passed');
        expect(record.checks.map((c) => c.id)).toEqual(Object.keys(CHECKS));
        expect(record.checks.filter((c) => c.status === 'failed')).toEqual([]);
        expect(JSON.parse(readFileSync(join(h.home, 'state', slug, 'metadata.json'), 'utf8'))).toMatchObject({ backend: 'docker', docker_runtime: runtime });
        expect(await leftovers(slug)).toEqual([]);
      }, 300_000);

      it('two bottles started at once reach neither each other nor each other’s bundle', async () => {
        const slugs = [`dk2a-${runtime}-${randomBytes(2).toString('hex')}`, `dk2b-${runtime}-${randomBytes(2).toString('hex')}`];
        // Each agent listens on 9999, says it is up, waits for its peer's addresses, then tries them.
        const script = [
          "/opt/bot-bottle/containment/node -e \"require('net').createServer((s)=>s.end('x')).listen(9999)\" &",
          'sleep 0.5; touch /workspace/ready',
          'for i in $(seq 300); do [ -f /workspace/peer ] && break; sleep 0.2; done',
          'for addr in $(cat /workspace/peer); do timeout 3 bash -c "exec 3<>/dev/tcp/${addr%:*}/${addr#*:}" 2>/dev/null && echo "OPEN $addr" || echo "CLOSED $addr"; done',
          'timeout 3 bash -c "exec 3<>/dev/tcp/sidecars/3128" && echo OWN-BUNDLE-OPEN; kill %1',
        ].join('\n');
        const runs = slugs.map((slug) => runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', script], { cwd: h.cwd, env: runEnv(), timeoutMs: 240_000 }));
        const ws = (slug: string): string => join(h.home, 'state', slug, 'workspace');
        let finished = 0;
        for (const r of runs) void r.then(() => finished++);
        for (let i = 0; i < 600 && finished === 0 && !slugs.every((s) => existsSync(join(ws(s), 'ready'))); i++) await new Promise((r) => setTimeout(r, 200));
        const addresses = await Promise.all(
          slugs.map(async (slug) => {
            const internal = `bot-bottle-${slug}-internal`;
            return [`${await addressOn(`bot-bottle-${slug}-agent`, internal)}:9999`, `${await addressOn(`bot-bottle-${slug}-sidecars`, internal)}:3128`];
          }),
        );
        writeFileSync(join(ws(slugs[0] ?? ''), 'peer'), (addresses[1] ?? []).join(' '));
        writeFileSync(join(ws(slugs[1] ?? ''), 'peer'), (addresses[0] ?? []).join(' '));
        const [a, b] = await Promise.all(runs);
        for (const [run, peer] of [
          [a, addresses[1]],
          [b, addresses[0]],
        ] as const) {
          expect(run?.exitCode, run?.stderr).toBe(0);
          expect(run?.stdout).toContain('OWN-BUNDLE-OPEN');
          for (const addr of peer ?? []) expect(run?.stdout).toContain(`CLOSED ${addr}`);
          expect(run?.stdout).not.toContain('OPEN 1');
        }
        for (const slug of slugs) expect(await leftovers(slug)).toEqual([]);
      }, 300_000);
    });
  }

  describe('a failure at each launch step leaves nothing behind (runc)', () => {
    const realDocker = findOnPath('docker', process.env.PATH) ?? '/usr/bin/docker';
    const realIptables = findOnPath('iptables', process.env.PATH) ?? '/usr/sbin/iptables';

    /**
     * `docker` and `iptables` that log every call and fail the Nth (counted under a lock: calls run
     * concurrently). Paths are written into the scripts: the backend runs docker with a minimal environment.
     */
    const start = async (slug: string, failAt: number): Promise<{ exitCode: number; stderr: string; calls: string[] }> => {
      const dir = mkdtempSync(join(tmpdir(), 'bb-fail-docker-'));
      try {
        for (const [name, real] of [
          ['docker', realDocker],
          ['iptables', realIptables],
        ] as const) {
          writeFileSync(
            join(dir, name),
            `#!/bin/sh
n=$(flock "${dir}/lock" sh -c 'n=$(( $(cat "${dir}/count" 2>/dev/null || echo 0) + 1 )); echo $n > "${dir}/count"; echo $n')
echo "$n ${name} $*" | cut -c1-160 >> "${dir}/calls"
if [ "$n" = "${failAt}" ]; then echo "injected failure of call $n" >&2; exit 1; fi
exec ${real} "$@"
`,
          );
          chmodSync(join(dir, name), 0o755);
        }
        const run = await runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', 'true'], {
          cwd: h.cwd,
          env: { ...env, BOT_BOTTLE_DOCKER_RUNTIME: 'runc', PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}` },
          timeoutMs: 120_000,
        });
        const calls = existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : [];
        return { exitCode: run.exitCode, stderr: run.stderr, calls };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    it('fails cleanly at every docker and iptables call before the agent runs', async () => {
      const clean = await start(`dkf-ok-${randomBytes(2).toString('hex')}`, 0);
      expect(clean.exitCode, clean.stderr).toBe(0);
      // Every call up to the one that runs the agent (a `docker exec` with the env file) is a launch step.
      const release = clean.calls.findIndex((c) => / docker exec --user \S+ --env-file /.test(c));
      const steps = clean.calls.slice(0, release > 0 ? release : clean.calls.length).map((c) => Number(c.split(' ')[0]));
      // The engine's own calls go over its socket (engine.ts) and are failed in the test below.
      expect(steps.length).toBeGreaterThan(5);
      for (const n of steps) {
        const slug = `dkf-${n}-${randomBytes(2).toString('hex')}`;
        const failed = await start(slug, n);
        const call = failed.calls.find((c) => c.startsWith(`${n} `)) ?? `call ${n}`;
        expect(failed.exitCode, `failing ${call}`).not.toBe(0);
        expect(failed.stderr, `failing ${call}`).not.toContain('unexpected error');
        expect(await leftovers(slug), `failing ${call}`).toEqual([]);
        expect(existsSync(join(h.home, 'state', slug, 'run')), `failing ${call}`).toBe(false);
      }
    }, 1_200_000);
  });

  describe('a failure at each Engine API request leaves nothing behind (runc)', () => {
    /**
     * The engine behind a unix-socket relay (DOCKER_HOST, so the backend's own calls and the docker CLI's
     * both pass it) that answers the Nth request with an engine error instead of relaying it, and keeps
     * every request (line, headers, body) to find the one that runs the agent. The CLI's `HEAD /_ping` is
     * not counted: the CLI goes on without it by design.
     */
    const REQUEST = /^(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP\/1\.1\r\n/;
    const start = async (slug: string, failAt: number): Promise<{ exitCode: number; stderr: string; requests: string[] }> => {
      const dir = mkdtempSync(join(tmpdir(), 'bb-fail-engine-'));
      const socket = join(dir, 'engine.sock');
      const requests: string[] = [];
      const open = new Set<Socket>();
      // Half-open both ways: the docker CLI closes its writing side of a hijacked stream while it still reads.
      const relay = createServer({ allowHalfOpen: true }, (client) => {
        open.add(client);
        client.on('error', () => undefined);
        const engine = connect({ path: '/var/run/docker.sock', allowHalfOpen: true });
        open.add(engine);
        engine.on('error', () => client.destroy());
        let current = -1;
        client.on('data', (chunk: Buffer) => {
          const text = chunk.toString('latin1');
          const line = REQUEST.exec(text);
          if (line !== null && !(line[1] === 'HEAD' && line[2] === '/_ping')) {
            current = requests.push('') - 1;
            if (requests.length === failAt) {
              requests[current] = text;
              const body = JSON.stringify({ message: `injected failure of request ${failAt}` });
              engine.destroy();
              client.end(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
              return;
            }
          } else if (line !== null) {
            current = -1;
          }
          if (current >= 0 && (requests[current] ?? '').length < 8_192) requests[current] += text;
          engine.write(chunk);
        });
        client.on('end', () => engine.end());
        engine.pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        relay.once('error', reject);
        relay.listen(socket, resolve);
      });
      try {
        const run = await runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', 'true'], {
          cwd: h.cwd,
          env: { ...env, BOT_BOTTLE_DOCKER_RUNTIME: 'runc', DOCKER_HOST: `unix://${socket}` },
          timeoutMs: 120_000,
        });
        return { exitCode: run.exitCode, stderr: run.stderr, requests };
      } finally {
        // A relayed stream the engine still holds open (an attach) must not keep the relay waiting.
        const closed = new Promise<void>((resolve) => relay.close(() => resolve()));
        for (const s of open) s.destroy();
        await closed;
        rmSync(dir, { recursive: true, force: true });
      }
    };

    it('fails cleanly at every engine request before the agent runs', async () => {
      const clean = await start(`dke-ok-${randomBytes(2).toString('hex')}`, 0);
      expect(clean.exitCode, clean.stderr).toBe(0);
      // The agent runs with the one exec that has a working directory (the probe's has none).
      const release = clean.requests.findIndex((c) => /^POST \/v[\d.]+\/containers\/[^/]+\/exec /.test(c) && c.includes('"WorkingDir":"/'));
      const lines = clean.requests.map((c) => c.split('\r\n')[0]).join('\n');
      expect(release, lines).toBeGreaterThan(5);
      // Network and container creation, the home's upload, starts: the backend's own calls are among them
      // (one network: the bundle's outside leg is the upstream's network, BOT_BOTTLE_DOCKER_EGRESS_NETWORK).
      const before = clean.requests.slice(0, release);
      expect(before.filter((c) => c.startsWith('POST /v1.41/networks/create ')).length, lines).toBe(1);
      expect(before.filter((c) => c.startsWith('POST /v1.41/containers/create?')).length, lines).toBe(2);
      expect(before.filter((c) => /^PUT \/v1\.41\/containers\/\S+\/archive\?/.test(c)).length, lines).toBe(1);
      for (let n = 1; n <= release; n++) {
        const slug = `dke-${n}-${randomBytes(2).toString('hex')}`;
        const failed = await start(slug, n);
        const request = failed.requests[n - 1] ?? '';
        const call = `request ${n} (${request.split('\r\n')[0] ?? '?'})`;
        // The backend's own calls must stop the launch; the docker CLI gets by without some of its own
        // (the exit-code `wait` beside an attach), and then the bottle simply runs: nothing may leak either way.
        if (!/\r\nUser-Agent: Docker-Client\//i.test(request)) expect(failed.exitCode, `failing ${call}`).not.toBe(0);
        expect(failed.stderr, `failing ${call}`).not.toContain('unexpected error');
        expect(await leftovers(slug), `failing ${call}`).toEqual([]);
        expect(existsSync(join(h.home, 'state', slug, 'run')), `failing ${call}`).toBe(false);
      }
    }, 1_200_000);
  });

  it('refuses a bottle when the host firewall rule cannot be read back, leaving nothing', async () => {
    // An iptables that accepts every command but never lists the rule: the launch must not go ahead.
    const dir = mkdtempSync(join(tmpdir(), 'bb-iptables-'));
    const real = findOnPath('iptables', process.env.PATH) ?? '/usr/sbin/iptables';
    writeFileSync(join(dir, 'iptables'), `#!/bin/sh\nfor a in "$@"; do [ "$a" = "-C" ] && exit 1; [ "$a" = "-I" ] && exit 0; done\nexec ${real} "$@"\n`);
    chmodSync(join(dir, 'iptables'), 0o755);
    try {
      const slug = `dkfw-${randomBytes(2).toString('hex')}`;
      const run = await runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', 'touch /workspace/agent-ran'], {
        cwd: h.cwd,
        env: { ...env, BOT_BOTTLE_DOCKER_RUNTIME: 'runc', PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}` },
        timeoutMs: 120_000,
      });
      expect(run.exitCode).not.toBe(0);
      expect(run.stderr).toMatch(/accepted the rule for bb-[0-9a-f]{8}-i but does not list it/);
      expect(existsSync(join(h.home, 'state', slug, 'workspace', 'agent-ran'))).toBe(false);
      expect(await leftovers(slug)).toEqual([]);
      const rules = (await execa(real, ['-S', 'INPUT'])).stdout;
      expect(rules).not.toContain(`bot-bottle.slug=${slug}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

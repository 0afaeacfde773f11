import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../../src/backends/docker/cli.js';
import { exitCode, guestExec } from '../../../src/backends/docker/guest-exec.js';
import { ensureSidecarsImage } from '../../../src/backends/docker/images.js';
import { removeNetwork } from '../../../src/backends/docker/network.js';
import type { DockerRuntime } from '../../../src/backends/docker/runtime.js';
import { ContainmentError } from '../../../src/containment/gate.js';
import { makeUpstreamPki, type TestPki } from '../../egress/support.js';
import { missingOfflineBase, missingRunsc } from '../../support/docker.js';
import { addressOn, AGENT_SECRET, inspectText, launchTestBottle, quiet, TOKEN, type TestBottle } from '../../support/docker-bottle.js';

/**
 * A docker bottle from the phase-1 building blocks against the real engine,
 * under runc and gVisor: the bundle container answers through egress with
 * the token injected, the containment self-test passes only with the host
 * firewall rule, no secret shows in `docker inspect`, and two bottles cannot
 * reach each other.
 */
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Run `script` in the agent container as the agent, with its provisioned environment. */
async function inAgent(b: TestBottle, script: string): Promise<{ code: number; out: string }> {
  const child = await guestExec(b.agent.id, { argv: ['bash', '-c', script], env: b.setup.env, workdir: b.setup.workdir });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return { code: await exitCode(child), out: out.trim() };
}

const route = (host: string, port: number) => ({
  host,
  port,
  auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'DKB_TOKEN' },
  matches: [],
  dlp: { outbound: ['token_patterns', 'known_secrets'], inbound: [], onMatch: 'block' },
  gitFetch: false,
  source: 'manifest',
});

describe.skipIf(missingOfflineBase())('a docker bottle (real engine)', () => {
  const upstreamNet = `bbtest-up-${randomBytes(3).toString('hex')}`;
  let upstream = '';
  let upstreamIp = '';
  let pki: TestPki;
  const pkiDir = mkdtempSync(join(tmpdir(), 'bb-upstream-pki-'));

  beforeAll(async () => {
    const image = await ensureSidecarsImage(quiet);
    pki = await makeUpstreamPki(['upstream']);
    writeFileSync(join(pkiDir, 'key.pem'), pki.keyPem);
    writeFileSync(join(pkiDir, 'cert.pem'), pki.certPem);
    await docker(['network', 'create', upstreamNet]);
    // An HTTPS upstream on the network the bundles' outside legs join: it answers with a hash of the Authorization it got.
    const server =
      "const fs=require('fs');require('https').createServer({key:fs.readFileSync('/pki/key.pem'),cert:fs.readFileSync('/pki/cert.pem')},(q,s)=>s.end(JSON.stringify({auth:require('crypto').createHash('sha256').update(q.headers.authorization||'').digest('hex'),url:q.url}))).listen(8443)";
    upstream = await docker(['run', '--detach', '--rm', '--network', upstreamNet, '--network-alias', 'upstream', '--mount', `type=bind,source=${pkiDir},target=/pki,readonly`, '--label', 'bot-bottle.test=upstream', image.id, 'node', '-e', server]);
    upstreamIp = await addressOn(upstream, upstreamNet);
  }, 600_000);

  afterAll(async () => {
    if (upstream) await docker(['rm', '--force', upstream]).catch(() => undefined);
    await removeNetwork(upstreamNet);
    rmSync(pkiDir, { recursive: true, force: true });
  }, 60_000);

  const runtimes: Array<[DockerRuntime, string | undefined]> = [
    ['runc', undefined],
    ['runsc', missingRunsc()],
  ];
  for (const [runtime, missing] of runtimes) {
    describe.skipIf(missing)(`under ${runtime}`, () => {
      const launch = (firewall = true): Promise<TestBottle> =>
        launchTestBottle({ runtime, egressNetwork: upstreamNet, firewall, routes: [route('upstream', 8443)], upstreamCaPem: pki.caPem, bundleEnv: { BOT_BOTTLE_RESOLVE: `upstream:8443:${upstreamIp}` } });

      it('passes the containment self-test, answers through egress with the token injected, and shows no secret in docker inspect', async () => {
        const b = await launch();
        try {
          await b.verdict;
          // Every check ran and passed (none skipped for lack of something to look at).
          const record = JSON.parse(readFileSync(join(b.h.home, 'state', b.slug, 'containment.json'), 'utf8')) as { result: string; checks: Array<{ id: string; status: string; detail: string }> };
          expect(record.result).toBe('passed');
          expect(record.checks.filter((c) => c.status !== 'passed')).toEqual([]);
          expect(await docker(['inspect', '--format', '{{.HostConfig.Runtime}}', b.agent.id])).toBe(runtime);
          // Through the bundle, by its alias: the upstream saw exactly the injected token.
          const answer = await inAgent(b, 'curl -sS --max-time 20 https://upstream:8443/hello');
          expect(answer).toEqual({ code: 0, out: expect.any(String) });
          expect(answer.out.startsWith("{") ? JSON.parse(answer.out) : answer.out).toEqual({ auth: sha(`Bearer ${TOKEN}`), url: '/hello' });
          // HTTPS through the bump verifies against the trust store the CA went into.
          const tls = await inAgent(b, 'curl -sS --max-time 20 -o /dev/null -w "%{http_code}" https://unrouted.example.test/');
          expect(tls.out).toBe('403');
          // The agent's own secret reaches its environment, never the container's config.
          expect((await inAgent(b, 'printenv AGENT_SECRET')).out).toBe(AGENT_SECRET);
          for (const id of [b.agent.id, b.bundle.id]) {
            const inspected = await inspectText(id);
            expect(inspected).not.toContain(TOKEN);
            expect(inspected).not.toContain(AGENT_SECRET);
            expect(inspected).not.toContain('PRIVATE KEY');
          }
          // The token is in the bundle's memory only: not in its processes' initial environments.
          const environs = await docker(['exec', b.bundle.id, 'sh', '-c', 'cat /proc/[0-9]*/environ | tr "\\0" "\\n"']);
          expect(environs).not.toContain(TOKEN);
          // The CA's key is nowhere the agent can read, and the token nowhere either.
          const agentFiles = await inAgent(b, `grep -rlsE "PRIVATE KEY|${TOKEN}" /etc /home /tmp /run /var 2>/dev/null; true`);
          expect(agentFiles.out).toBe('');
        } finally {
          expect(await b.stack.unwind()).toEqual([]);
        }
      }, 300_000);

      it('refuses without the host firewall rule: the internal bridge reaches the host', async () => {
        const b = await launch(false);
        try {
          const error = await b.verdict.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(ContainmentError);
          expect((error as Error).message).toMatch(/host-addresses FAILED: .*connected/);
        } finally {
          expect(await b.stack.unwind()).toEqual([]);
        }
      }, 300_000);
    });
  }

  for (const [runtime, missing] of [
    ['runc', undefined],
    ['runsc', missingRunsc()],
  ] as Array<[DockerRuntime, string | undefined]>) {
  it.skipIf(missing)(`two bottles reach neither each other nor each other’s bundle (${runtime})`, async () => {
    const a = await launchTestBottle({ runtime, egressNetwork: upstreamNet, routes: [] });
    const b = await launchTestBottle({ runtime, egressNetwork: upstreamNet, routes: [] });
    try {
      await Promise.all([a.verdict, b.verdict]);
      const bAgent = await addressOn(b.agent.id, b.internal.name);
      const bBundle = await addressOn(b.bundle.id, b.internal.name);
      // A listener in b's agent (the probe's node is there, read-only).
      await docker(['exec', '--detach', '--user', '1000:1000', b.agent.id, '/opt/bot-bottle/containment/node', '-e', "require('net').createServer((s)=>s.end('x')).listen(9999)"]);
      const reach = async (from: TestBottle, host: string, port: number): Promise<string> =>
        (await inAgent(from, `timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null && echo open || echo closed`)).out;
      // Open from inside b (so "closed" from a means unreachable, not "nothing listens").
      expect(await reach(b, bBundle, 3128)).toBe('open');
      expect(await reach(b, bAgent, 9999)).toBe('open');
      expect(await reach(a, 'sidecars', 3128)).toBe('open');
      expect(await reach(a, bBundle, 3128)).toBe('closed');
      expect(await reach(a, bAgent, 9999)).toBe('closed');
      // The alias resolves to its own bundle only.
      const own = await addressOn(a.bundle.id, a.internal.name);
      expect((await inAgent(a, 'getent hosts sidecars | cut -d" " -f1')).out).toBe(own);
    } finally {
      expect(await a.stack.unwind()).toEqual([]);
      expect(await b.stack.unwind()).toEqual([]);
    }
  }, 300_000);
  }
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker } from '../../src/backends/docker/cli.js';
import { makeUpstreamPki } from '../egress/support.js';
import { missingOfflineBase } from '../support/docker.js';
import { guestExec } from '../../src/backends/docker/guest-exec.js';
import { AGENT_SECRET, inAgent, launchTestBottle, TOKEN } from '../support/docker-bottle.js';
import { secretSightings } from '../support/docker-sightings.js';
import { startDockerUpstream, type DockerUpstream } from '../support/docker-upstream.js';
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic.js';

/**
 * The fake-API plumbing of the docker agent tests, on a test-assembled
 * bottle: a relay container on the test's network carries the bundle's
 * request for api.anthropic.com to the fake in this process, with the token
 * injected; the agent itself reaches neither the relay nor the fake.
 */
describe.skipIf(missingOfflineBase())('fake APIs for docker bottles: a relay container on the egress network', () => {
  let up: DockerUpstream;
  let fake: FakeAnthropic;
  let relay = '';
  let caPem = '';

  beforeAll(async () => {
    up = await startDockerUpstream();
    const pki = await makeUpstreamPki(['api.anthropic.com']);
    caPem = pki.caPem;
    fake = await startFakeAnthropic({ pki, host: up.hostAddress });
    relay = await up.relay(fake.port);
  }, 600_000);

  afterAll(async () => {
    await fake?.close();
    await up?.close();
  }, 60_000);

  it('reaches the fake through egress with the token injected; the agent reaches neither the relay nor the fake directly', async () => {
    const b = await launchTestBottle({
      runtime: 'runc',
      egressNetwork: up.network,
      routes: [
        {
          host: 'api.anthropic.com',
          port: 443,
          auth: { scheme: 'Bearer', tokenSlot: 'EGRESS_TOKEN_0', tokenRef: 'DKB_TOKEN' },
          matches: [],
          dlp: { outbound: [], inbound: [], onMatch: 'block' },
          gitFetch: false,
          source: 'manifest',
        },
      ],
      upstreamCaPem: caPem,
      bundleEnv: { BOT_BOTTLE_RESOLVE: `api.anthropic.com:443:${relay}` },
    });
    try {
      // The self-test passes with the fake listening on a host address (the test network's gateway).
      await b.verdict;
      const answer = await inAgent(b, `curl -sS --max-time 20 -X POST -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"hi"}]}' https://api.anthropic.com/v1/messages`);
      expect(answer.code, answer.out).toBe(0);
      expect(JSON.parse(answer.out)).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'ok' }] });
      expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
      const direct = async (host: string, port: number): Promise<string> =>
        (await inAgent(b, `timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null && echo open || echo closed`)).out;
      // Both answer on the bundle's outside leg (so "closed" below means unreachable, not "nothing listens").
      const fromBundle = async (host: string, port: number): Promise<string> =>
        docker(['exec', b.bundle.id, 'node', '-e', `require('net').connect(${port},'${host}',()=>{console.log('open');process.exit(0)}).on('error',()=>{console.log('closed');process.exit(0)})`]);
      expect(await fromBundle(relay, 443)).toBe('open');
      expect(await fromBundle(up.hostAddress, fake.port)).toBe('open');
      expect(await direct(relay, 443)).toBe('closed');
      expect(await direct(up.hostAddress, fake.port)).toBe('closed');
      // The sightings helper the agent tests rely on: the token nowhere; the agent's own secret seen where it is.
      expect(await secretSightings(b.slug, TOKEN)).toEqual([]);
      const held = await guestExec(b.agent.id, { argv: ['sh', '-c', 'echo up; exec sleep 60'], env: b.setup.env });
      try {
        await new Promise((r) => held.stdout?.once('data', r));
        await inAgent(b, 'umask 077; printenv AGENT_SECRET > ~/.kept');
        expect(await secretSightings(b.slug, AGENT_SECRET)).toEqual(['agent: a process environment', 'agent: /home/agent/.kept']);
      } finally {
        held.kill();
      }
    } finally {
      expect(await b.stack.unwind()).toEqual([]);
    }
  }, 300_000);
});

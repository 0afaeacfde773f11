import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate, needleForms, type Expectations } from '../../src/containment/checks.js';
import { hostResolvedName } from '../../src/containment/host-name.js';
import { parseReport } from '../../src/containment/report-schema.js';
import type { ProbeReport, ProbeSpec } from '../../src/containment/spec.js';
import { tempHome } from '../support/home.js';

/** The judging half of the self-test, on reports as a sealed and a leaky bottle would send them. */

const spec: ProbeSpec = {
  version: 1,
  canaries: [
    { proto: 'tcp', host: '127.0.0.1', port: 4001 },
    { proto: 'udp', host: '127.0.0.1', port: 4002 },
    { proto: 'tcp', host: '192.0.2.2', port: 4003 },
    { proto: 'udp', host: '192.0.2.2', port: 4004 },
  ],
  dnsName: 'build-host',
  endpoints: [
    { host: '127.0.0.1', port: 3128 },
    { host: '127.0.0.1', port: 8419 },
  ],
  proxy: { host: '127.0.0.1', port: 3128 },
  unroutedHost: 'bb-containment-1.invalid',
  ca: { bundlePath: '/etc/ssl/certs/ca-certificates.crt', filePath: '/etc/bot-bottle/ca.pem', der: 'MIIB', leafFor: { host: 'api.example.com', port: 443 } },
  scanDirs: ['/home/agent'],
  limits: { attemptMs: 500, fileBytes: 1 << 20, totalBytes: 1 << 22, entries: 1_000 },
};

function sealed(): ProbeReport {
  return {
    version: 1,
    network: {
      interfaces: ['lo'],
      routes: [],
      listeners: [
        { proto: 'tcp', host: '127.0.0.1', port: 3128 },
        { proto: 'tcp', host: '127.0.0.1', port: 8419 },
      ],
      unixListeners: [],
      notListening: [],
    },
    attempts: [
      { proto: 'tcp', host: '127.0.0.1', port: 4001, outcome: 'ECONNREFUSED' },
      { proto: 'udp', host: '127.0.0.1', port: 4002, outcome: 'ECONNREFUSED' },
      { proto: 'tcp', host: '192.0.2.2', port: 4003, outcome: 'ENETUNREACH' },
      { proto: 'udp', host: '192.0.2.2', port: 4004, outcome: 'ENETUNREACH' },
    ],
    dns: { name: 'build-host', outcome: 'EAI_AGAIN' },
    proxy: { status: 403, blockStage: 'route' },
    ca: { inBundle: true, fileMatches: true, handshake: 'verified' },
    self: { uid: 1000, ownsUsr: false, capEff: '0000000000000000', noNewPrivs: '1', seccomp: '2' },
    processes: [{ pid: 2, cmdline: '/bin/sh /run/bot-bottle/init.sh bash' }],
    texts: [{ source: '/proc/2/environ', data: Buffer.from('HOME=/home/agent\0PATH=/usr/bin\0').toString('base64') }],
    ms: 60,
    timings: { start: 40 },
  };
}

const secret = 'ghp_s3cretValueThatMustNeverBeReadable0001';
const expectations = (over: Partial<Expectations> = {}): Expectations => ({
  interfaces: ['lo'],
  routes: false,
  seccomp: true,
  canaryHits: [],
  hostProcessMarkers: ['/root/.bot-bottle/state/x/run/sidecars.json'],
  needles: [{ label: 'token slot EGRESS_TOKEN_1', forms: needleForms(secret) }],
  ...over,
});

const failed = (r: ProbeReport, e = expectations()): Record<string, string> =>
  Object.fromEntries(evaluate(spec, r, e).filter((c) => c.status === 'failed').map((c) => [c.id, c.detail]));

describe('containment checks', () => {
  it('pass a sealed bottle, every check', () => {
    const results = evaluate(spec, sealed(), expectations());
    expect(results.map((r) => [r.id, r.status])).toEqual([
      ['host-loopback', 'passed'],
      ['host-addresses', 'passed'],
      ['dns', 'passed'],
      ['endpoints', 'passed'],
      ['proxy', 'passed'],
      ['ca-trust', 'passed'],
      ['secrets', 'passed'],
      ['processes', 'passed'],
      ['privileges', 'passed'],
    ]);
  });

  it('fail a bottle that shares the host network, naming what was reached', () => {
    const r = sealed();
    r.attempts = r.attempts.map((a) => ({ ...a, outcome: a.proto === 'tcp' ? 'connected' : 'answered' }));
    r.network.interfaces = ['lo', 'eth0'];
    r.network.routes = ['eth0 00000000 0102000A ...'];
    r.network.listeners.push({ proto: 'tcp', host: '0.0.0.0', port: 22 }, { proto: 'udp', host: '0.0.0.0', port: 68 });
    r.network.unixListeners = ['/run/docker.sock'];
    const f = failed(r);
    expect(f['host-loopback']).toContain('tcp 127.0.0.1:4001 connected');
    expect(f['host-addresses']).toContain('udp 192.0.2.2:4004 answered');
    expect(f.endpoints).toMatch(/eth0.*route.*tcp 0\.0\.0\.0:22.*udp 0\.0\.0\.0:68.*\/run\/docker\.sock/);
  });

  it('trust the host canaries over the probe: traffic that arrived fails the check even if the probe said refused', () => {
    const f = failed(sealed(), expectations({ canaryHits: [{ proto: 'udp', host: '127.0.0.1', port: 4002, from: '127.0.0.1:5555' }] }));
    expect(f['host-loopback']).toContain('udp 127.0.0.1:4002 received traffic from 127.0.0.1:5555');
  });

  it('fail when a canary was not tried at all (a probe that skips work is not a pass)', () => {
    const r = sealed();
    r.attempts = r.attempts.slice(1);
    expect(failed(r)['host-loopback']).toContain('tcp 127.0.0.1:4001 was not tried');
  });

  it('fail on a resolved host name, a proxy that is not egress, a trust store without the CA', () => {
    const r = sealed();
    r.dns = { name: 'build-host', outcome: 'resolved' };
    r.proxy = { status: 200, blockStage: null };
    r.ca = { inBundle: false, fileMatches: true, handshake: 'not-tried' };
    const f = failed(r);
    expect(f.dns).toContain('build-host');
    expect(f.proxy).toContain('answered bb-containment-1.invalid with 200');
    expect(f['ca-trust']).toContain('/etc/ssl/certs/ca-certificates.crt does not hold the bottle CA');
  });

  it('fail on host root, capabilities and a missing seccomp filter', () => {
    const r = sealed();
    r.self = { uid: 0, ownsUsr: true, capEff: '000001ffffffffff', noNewPrivs: '0', seccomp: '0' };
    expect(failed(r).privileges).toMatch(/host root.*capabilities 000001ffffffffff.*no_new_privs.*seccomp/);
  });

  it('fail when a host process is visible (pid namespace shared)', () => {
    const r = sealed();
    r.processes.push({ pid: 4242, cmdline: 'node dist/sidecars.js --config /root/.bot-bottle/state/x/run/sidecars.json' });
    expect(failed(r).processes).toContain('pid 4242');
  });

  it('find a secret raw, in hex and in base64 at every alignment, and name it without its value', () => {
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      for (const encode of [(s: string) => s, (s: string) => Buffer.from(s).toString('hex'), (s: string) => Buffer.from(s).toString('base64'), (s: string) => Buffer.from(s).toString('base64url')]) {
        const r = sealed();
        r.texts.push({ source: '/home/agent/.config/leak', data: Buffer.from(`x=${encode(prefix + secret)}\n`).toString('base64') });
        const f = failed(r);
        expect(f.secrets, `${prefix} ${encode('x')}`).toBe('token slot EGRESS_TOKEN_1 in /home/agent/.config/leak');
      }
    }
  });

  it('fail the secrets check when the scan stopped at a limit (an unread file could hold the secret)', () => {
    const r = sealed();
    r.truncated = '/home/agent/big (99999999 bytes) is over the scan limit';
    expect(failed(r).secrets).toContain('could not read everything');
  });

  it('skip, and say so, what the host cannot provide (no other address, no name it resolves)', () => {
    const r = sealed();
    delete r.dns;
    const local = { ...spec, canaries: spec.canaries.slice(0, 2) };
    r.attempts = r.attempts.slice(0, 2);
    const results = evaluate(local, r, expectations());
    expect(results.find((c) => c.id === 'dns')).toMatchObject({ status: 'skipped', detail: 'the host resolves no name offline' });
    expect(results.find((c) => c.id === 'host-addresses')?.status).toBe('skipped');
    expect(results.filter((c) => c.status === 'failed')).toEqual([]);
  });
});

describe('the probe report is untrusted input', () => {
  it('parses a well-formed report and rejects anything else with a reason', () => {
    expect(parseReport(JSON.stringify(sealed())).proxy.status).toBe(403);
    expect(() => parseReport('Error: boom\n    at x')).toThrow(/did not report: "Error: boom/);
    expect(() => parseReport(JSON.stringify({ ...sealed(), extra: 1 }))).toThrow(/malformed/);
    expect(() => parseReport(JSON.stringify({ ...sealed(), processes: [{ pid: -1, cmdline: '' }] }))).toThrow(/processes\.0\.pid/);
  });
});

describe('the name for the DNS check', () => {
  it('comes from the hosts file, never a generic or excluded name', async () => {
    const h = tempHome();
    try {
      const hosts = join(h.root, 'hosts');
      writeFileSync(hosts, '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n');
      expect(await hostResolvedName([], 300, hosts)).toBeUndefined();
      // `localhost` is excluded however it is spelled; a name the system cannot resolve is not used either.
      writeFileSync(hosts, '127.0.0.1 LOCALHOST bb-surely-not-resolvable.invalid\n');
      expect(await hostResolvedName([], 300, hosts)).toBeUndefined();
    } finally {
      h.cleanup();
    }
  });
});

describe('containment checks for a docker bottle', () => {
  const docker = (over: Partial<Expectations> = {}): Expectations => expectations({ interfaces: ['lo', 'eth0'], routes: true, runtimeListeners: ['127.0.0.11'], ...over });
  const dockerReport = (): ProbeReport => {
    const r = sealed();
    r.network.interfaces = ['lo', 'eth0'];
    r.network.routes = ['eth0 00000000 010012AC 0003'];
    // The bundle is another container: nothing of it listens inside; docker's resolver does.
    r.network.listeners = [
      { proto: 'tcp', host: '127.0.0.11', port: 43441 },
      { proto: 'udp', host: '127.0.0.11', port: 36662 },
    ];
    return r;
  };
  const remoteSpec: ProbeSpec = { ...spec, endpoints: [{ host: 'sidecars', port: 3128 }], endpointsRemote: true, proxy: { host: 'sidecars', port: 3128 } };

  it("takes docker's resolver for the runtime's own, and still fails any other listener", () => {
    expect(evaluate(remoteSpec, dockerReport(), docker()).filter((c) => c.status !== 'passed')).toEqual([]);
    const r = dockerReport();
    r.network.listeners.push({ proto: 'tcp', host: '0.0.0.0', port: 22 });
    expect(evaluate(remoteSpec, r, docker()).find((c) => c.id === 'endpoints')).toMatchObject({ status: 'failed', detail: expect.stringContaining('tcp 0.0.0.0:22') });
    // Without the allowance (any other backend) the resolver is a stray listener.
    expect(evaluate(remoteSpec, dockerReport(), docker({ runtimeListeners: [] })).find((c) => c.id === 'endpoints')?.status).toBe('failed');
  });

  it("notes gVisor's unreported no_new_privs, but fails an explicit 0 and a missing field elsewhere", () => {
    const r = dockerReport();
    r.self = { ...r.self, noNewPrivs: '?', seccomp: '0' };
    expect(evaluate(remoteSpec, r, docker({ seccomp: false, noNewPrivsReported: false })).find((c) => c.id === 'privileges')).toMatchObject({ status: 'passed', detail: expect.stringContaining('not reported') });
    expect(evaluate(remoteSpec, r, docker({ seccomp: false })).find((c) => c.id === 'privileges')).toMatchObject({ status: 'failed', detail: expect.stringContaining('no_new_privs is off') });
    r.self.noNewPrivs = '0';
    expect(evaluate(remoteSpec, r, docker({ seccomp: false, noNewPrivsReported: false })).find((c) => c.id === 'privileges')?.status).toBe('failed');
  });
});

import { createServer as createNetServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCanaries, type Canaries } from '../../src/containment/canaries.js';
import { CHECKS, evaluate, needleForms, type CheckResult } from '../../src/containment/checks.js';
import { GUEST_PROBE_SCRIPT } from '../../src/containment/guest.js';
import { hostResolvedName } from '../../src/containment/host-name.js';
import type { ProbeReport, ProbeSpec } from '../../src/containment/spec.js';
import { GUEST_CA_BUNDLE, GUEST_CA_FILE, GUEST_HOME } from '../../src/provision/layout.js';
import { fakeGithubToken, makeUpstreamPki, startUpstream } from '../egress/support.js';
import { probeResults, runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { PROBE_SCRIPT } from './probe-script.js';

/**
 * The sandbox-escape suite: one probe run inside a real bottle per backend,
 * then one assertion per way out. Later backends join the list below and
 * must pass the same checks.
 */
const BACKENDS = [{ name: 'bwrap', missing: missingTool('bwrap') ?? missingTool('socat', ['-V']) }];

interface CurlResult {
  code: number;
  body: string;
}
interface ProbeResult {
  containmentSpec: ProbeSpec;
  containment: ProbeReport;
  unrouted: CurlResult;
  routed: CurlResult;
  dlpBody: CurlResult;
  dlpHeader: CurlResult;
  dlpQuery: CurlResult;
  redacted: CurlResult;
  writes: Record<string, string>;
  paths: Record<string, boolean>;
  otherSocket: string;
  seccomp: Record<string, number | string> | string;
}

function hostProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim());
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.missing)(`escape suite: ${backend.name}`, () => {
    let h: TempHome;
    let upstream: Awaited<ReturnType<typeof startUpstream>>;
    let canaries: Canaries;
    let otherSocket: Server;
    let run: BottleRun;
    let probe: ProbeResult;
    let readable: string;
    let checks: CheckResult[];
    const injected = `escape-injected-${randomBytes(12).toString('hex')}`;
    const dlpSecret = fakeGithubToken('escape');
    const tmpMarker = `bb-escape-${randomBytes(6).toString('hex')}`;
    const sleepMarker = `${300 + Math.floor(Math.random() * 600)}.${Math.floor(Math.random() * 1e6)}`;

    beforeAll(async () => {
      h = tempHome();
      const pki = await makeUpstreamPki(['routed.test', 'redact.test']);
      upstream = await startUpstream(pki);
      const caFile = h.write('upstream-ca.pem', pki.caPem);

      // The self-test's own canaries on the host's loopback and other addresses, TCP and UDP.
      canaries = await openCanaries();
      const otherDir = join(h.home, 'state', 'other-bottle', 'run', 'sock');
      mkdirSync(otherDir, { recursive: true });
      otherSocket = createNetServer((c) => c.end('other bottle'));
      await new Promise<void>((r) => otherSocket.listen(join(otherDir, 'egress.sock'), r));

      h.writeBottle(
        'escape',
        `agent_provider: {template: shell}
egress:
  routes:
    - host: routed.test
      port: ${upstream.port}
      auth: {scheme: Bearer, token_ref: ESCAPE_TOKEN}
      dlp: {outbound_on_match: block}
    - host: redact.test
      port: ${upstream.port}
      dlp: {outbound_on_match: redact}`,
      );
      h.writeAgent('probe', 'bottle: escape');
      writeFileSync(join(h.cwd, 'probe.mjs'), PROBE_SCRIPT);
      const dnsName = await hostResolvedName([]);
      const containment: Omit<ProbeSpec, 'ca'> & { ca: Omit<ProbeSpec['ca'], 'der'> } = {
        version: 1,
        canaries: canaries.list,
        ...(dnsName ? { dnsName } : {}),
        endpoints: [3128, 8419].map((port) => ({ host: '127.0.0.1', port })),
        proxy: { host: '127.0.0.1', port: 3128 },
        unroutedHost: 'unrouted.test',
        ca: { bundlePath: GUEST_CA_BUNDLE, filePath: GUEST_CA_FILE, leafFor: { host: 'routed.test', port: upstream.port } },
        scanDirs: ['/workspace', GUEST_HOME, '/run', '/tmp', '/etc', '/var/tmp'],
        limits: { attemptMs: 2_000, fileBytes: 8 << 20, totalBytes: 32 << 20, entries: 50_000 },
      };
      writeFileSync(
        join(h.cwd, 'probe-config.json'),
        JSON.stringify({
          probeModule: GUEST_PROBE_SCRIPT,
          containment,
          routedUrl: `https://routed.test:${upstream.port}`,
          redactUrl: `https://redact.test:${upstream.port}`,
          dlpSecret,
          tmpMarker,
          sleepMarker,
          otherSocket: join(otherDir, 'egress.sock'),
          mustNotExist: [h.root, h.home, homedir(), '/var/run/docker.sock', '/run/docker.sock', join(homedir(), '.ssh')],
        }),
      );
      run = await runBottleCli(['start', 'probe', '--headless', '--cwd', '--prompt', 'node /workspace/probe.mjs'], {
        cwd: h.cwd,
        env: {
          BOT_BOTTLE_HOME: h.home,
          BOT_BOTTLE_BACKEND: backend.name,
          BOT_BOTTLE_RESOLVE: `routed.test:${upstream.port}:127.0.0.1,redact.test:${upstream.port}:127.0.0.1`,
          BOT_BOTTLE_UPSTREAM_CA: caFile,
          ESCAPE_TOKEN: injected,
        },
      });
      probe = probeResults(run.stdout, run.stderr) as unknown as ProbeResult;
      readable = probe.containment.texts.map((t) => Buffer.from(t.data, 'base64').toString('latin1')).join('\n');
      checks = evaluate(probe.containmentSpec, probe.containment, {
        interfaces: ['lo'],
        routes: false,
        seccomp: process.arch === 'x64',
        canaryHits: canaries.hits,
        // The bundle's command line names this test's state folder; the test runner's own is a host process too.
        hostProcessMarkers: [join(h.home, 'state'), readFileSync('/proc/self/cmdline', 'latin1').replace(/\0/g, ' ').trim()],
        needles: [{ label: 'the injected token', forms: needleForms(injected) }],
      });
    }, 120_000);

    afterAll(async () => {
      await upstream?.close();
      await canaries?.close();
      for (const s of [otherSocket]) await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
      h?.cleanup();
    });

    it('runs the agent headless and returns its exit code', () => {
      expect(run.stderr).not.toContain('unexpected error');
      expect(run.exitCode).toBe(0);
    });

    it('passes the containment checks every launch runs, observed from inside by the same code', () => {
      expect(checks.map((c) => c.id)).toEqual(Object.keys(CHECKS));
      for (const c of checks) expect(c.status, `${c.id}: ${c.detail}`).not.toBe('failed');
      // Only what this machine cannot provide may be skipped (a host without other addresses or a name it resolves).
      for (const c of checks.filter((x) => !['host-addresses', 'dns'].includes(x.id))) expect(c.status, c.id).toBe('passed');
      expect(probe.containment.network.interfaces).toEqual(['lo']);
      expect(probe.containment.network.routes).toEqual([]);
    });

    it('ran the containment self-test at launch, before the agent, and recorded that it passed', () => {
      const slug = readdirSync(join(h.home, 'state')).find((d) => d.startsWith('probe-')) ?? 'x';
      const recorded = JSON.parse(readFileSync(join(h.home, 'state', slug, 'containment.json'), 'utf8')) as { result: string };
      expect(recorded.result).toBe('passed');
    });

    it('gets a 403 that explains how to ask, for an unrouted host', () => {
      // Answered inside TLS, so the agent's client shows the reason (not a bare CONNECT failure).
      expect(probe.unrouted.code).toBe(403);
      expect(probe.unrouted.body).toContain('`egress-block` with {"host":"unrouted.test"');
    });

    it('reaches a routed host with the injected token, which the agent never holds', () => {
      expect(probe.routed.code).toBe(200);
      const seen = upstream.seen.find((r) => r.url === '/hello');
      expect(seen?.headers.authorization).toBe(`Bearer ${injected}`);
      expect(readable.length).toBeGreaterThan(10_000);
      expect(readable).not.toContain(injected);
      expect(run.stdout).not.toContain(injected);
    });

    it('blocks secrets in bodies, headers and query strings on a block route', () => {
      for (const key of ['dlpBody', 'dlpHeader', 'dlpQuery'] as const) expect(probe[key].code, key).toBe(403);
      for (const path of ['/body', '/header']) expect(upstream.seen.find((r) => r.url === path)).toBeUndefined();
      expect(upstream.seen.find((r) => r.url.startsWith('/query'))).toBeUndefined();
    });

    it('redacts secrets on a redact route', () => {
      expect(probe.redacted.code).toBe(200);
      const seen = upstream.seen.find((r) => r.url === '/redact');
      expect(seen?.body).toBeDefined();
      expect(seen?.body).not.toContain(dlpSecret);
    });

    it("cannot see the bundle, its CA key, the host's home or other bottles' sockets", () => {
      expect(readable).not.toMatch(/PRIVATE KEY/);
      expect(probe.containment.processes.map((p) => p.cmdline).join('\n')).not.toContain('sidecars');
      for (const [path, exists] of Object.entries(probe.paths)) expect(exists, path).toBe(false);
      expect(probe.otherSocket).toBe('ENOENT');
    });

    it('cannot write outside the workspace and home; its /tmp is private', () => {
      const w = probe.writes;
      for (const p of ['/usr/escape', '/etc/escape', '/escape', '/run/bot-bottle/sock/escape', '/run/bot-bottle/seed/escape']) expect(w[p], p).not.toBe('written');
      expect(w['/workspace/ok']).toBe('written');
      expect(Object.entries(w).find(([p]) => p.startsWith('/home/'))?.[1]).toBe('written');
      expect(existsSync(join('/tmp', tmpMarker))).toBe(false);
      expect(readFileSync(join(h.home, 'state', readdirSync(join(h.home, 'state')).find((d) => d.startsWith('probe-')) ?? 'x', 'workspace', 'ok'), 'utf8')).toBe('x');
    });

    it('cannot use the kernel interfaces the seccomp filter denies', () => {
      expect(probe.seccomp).toEqual({ keyctl: 1, ptrace: 1, bpf: 1, userfaultfd: 1, io_uring_setup: 1, getpid: 'ok', tiocsti: 1 });
    });

    it('leaves no process behind: neither agent children nor the bundle', () => {
      const procs = hostProcesses();
      expect(procs.filter((p) => p.includes(`sleep ${sleepMarker}`))).toEqual([]);
      expect(procs.filter((p) => p.includes('sidecars') && p.includes(h.home))).toEqual([]);
    });
  });
}

import { createServer as createNetServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  tcpLoopback: string;
  tcpHostAddrs: Record<string, string>;
  interfaces: string[];
  routes: string[];
  dns: string;
  unrouted: CurlResult;
  routed: CurlResult;
  dlpBody: CurlResult;
  dlpHeader: CurlResult;
  dlpQuery: CurlResult;
  redacted: CurlResult;
  writes: Record<string, string>;
  paths: Record<string, boolean>;
  otherSocket: string;
  processes: string[];
  readable: string;
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
    const canaries: Server[] = [];
    let otherSocket: Server;
    let run: BottleRun;
    let probe: ProbeResult;
    let readable: string;
    const injected = `escape-injected-${randomBytes(12).toString('hex')}`;
    const dlpSecret = fakeGithubToken('escape');
    const tmpMarker = `bb-escape-${randomBytes(6).toString('hex')}`;
    const sleepMarker = `${300 + Math.floor(Math.random() * 600)}.${Math.floor(Math.random() * 1e6)}`;
    const hostAddrs = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a!.address);

    beforeAll(async () => {
      h = tempHome();
      const pki = await makeUpstreamPki(['routed.test', 'redact.test']);
      upstream = await startUpstream(pki);
      const caFile = h.write('upstream-ca.pem', pki.caPem);

      const loop = createNetServer((s) => s.end('canary'));
      await new Promise<void>((r) => loop.listen(0, '127.0.0.1', r));
      canaries.push(loop);
      const canaryPort = (loop.address() as { port: number }).port;
      for (const ip of hostAddrs) {
        const s = createNetServer((c) => c.end('canary'));
        await new Promise<void>((r) => s.once('error', () => r()).listen(canaryPort, ip, r));
        canaries.push(s);
      }
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
      writeFileSync(
        join(h.cwd, 'probe-config.json'),
        JSON.stringify({
          canaryPort,
          hostAddrs,
          dnsName: 'debian-mirror.invalid',
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
      readable = Buffer.from(String(probe.readable), 'base64').toString('latin1');
    }, 120_000);

    afterAll(async () => {
      await upstream?.close();
      for (const s of [...canaries, otherSocket]) await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
      h?.cleanup();
    });

    it('runs the agent headless and returns its exit code', () => {
      expect(run.stderr).not.toContain('unexpected error');
      expect(run.exitCode).toBe(0);
    });

    it('cannot reach host loopback services', () => {
      expect(probe.tcpLoopback).toBe('ECONNREFUSED');
    });

    it("cannot reach the host's other addresses or any IP: only loopback, no routes", () => {
      for (const result of Object.values(probe.tcpHostAddrs)) expect(result).not.toBe('connected');
      expect(probe.interfaces).toEqual(['lo']);
      expect(probe.routes).toEqual([]);
    });

    it('cannot resolve names', () => {
      expect(probe.dns).not.toBe('resolved');
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
      expect(probe.processes.join('\n')).not.toContain('sidecars');
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

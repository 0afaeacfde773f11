import { createServer as createNetServer, type Server } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCanaries, type Canaries } from '../../src/containment/canaries.js';
import { CHECKS, evaluate, needleForms, type CheckResult } from '../../src/containment/checks.js';
import { findOnPath } from '../../src/backends/probe.js';
import { dockerExpectations, dockerProbeTargets } from '../../src/backends/docker/probe.js';
import { RUNTIME_ENV, type DockerRuntime } from '../../src/backends/docker/runtime.js';
import type { ProbeInside, ProbeTargets } from '../../src/containment/gate.js';
import { GUEST_PROBE_NODE, GUEST_PROBE_SCRIPT } from '../../src/containment/guest.js';
import { hostResolvedName } from '../../src/containment/host-name.js';
import type { ProbeReport, ProbeSpec } from '../../src/containment/spec.js';
import { GUEST_CA_BUNDLE, GUEST_CA_FILE, GUEST_HOME } from '../../src/provision/layout.js';
import { fakeGithubToken, makeUpstreamPki, startUpstream } from '../egress/support.js';
import { probeResults, runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { dockerLeftovers, OFFLINE_BUILD } from '../support/docker.js';
import { dockerAgentMissing, dockerBottleEnv, startDockerUpstream } from '../support/docker-upstream.js';
import { missingTool } from '../support/prereq.js';
import { PROBE_SCRIPT } from './probe-script.js';

/**
 * The sandbox-escape suite: one probe run inside a real bottle per backend
 * (bwrap; docker under runc; docker under gVisor), then one assertion per way
 * out. Every backend must pass the same containment checks; where a backend's
 * boundary differs (its network, its seccomp), the difference is the
 * backend's own declaration (what its launch hands the self-test), never one
 * re-derived here.
 *
 * Covered elsewhere, not repeated here: two docker bottles reaching each
 * other (tests/backends/docker/start.test.ts, bottle.test.ts, both runtimes);
 * the self-test refusing a bottle whose bridge reaches the host, from the
 * building blocks (bottle.test.ts "refuses without the host firewall rule");
 * a failure at each docker launch step leaving nothing (start.test.ts).
 */

/** How one backend's bottle is reached and what it looks like from inside. */
interface Side {
  env: Record<string, string>;
  /** A node the agent can run (bwrap: the host's, under its read-only /usr; docker: the one the self-test binds in). */
  node: string;
  /** Where the fake upstream listens (the bundle must reach it; the agent must not). */
  upstreamHost: string;
  /** How the bundle reaches the upstream listening on `port`: the route's port and the address BOT_BOTTLE_RESOLVE pins. */
  reach(port: number): Promise<{ port: number; address: string }>;
  /** The bundle's endpoints as the agent reaches them, and the bottle's shape: what the backend's launch gives its self-test. */
  targets: ProbeTargets;
  expect: ProbeInside['expect'];
  /** Paths of the host's own home the bottle must not show (docker's images bring their own /root). */
  hostHome: string[];
  /** Everything of the bottle still on the host after it exited (beyond processes, checked for all). */
  leftovers(slug: string): Promise<string[]>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  missing: string | undefined;
  runtime?: DockerRuntime;
  side(): Promise<Side>;
}

const bwrapSide = (): Promise<Side> =>
  Promise.resolve({
    env: { BOT_BOTTLE_BACKEND: 'bwrap' },
    node: 'node',
    upstreamHost: '127.0.0.1',
    reach: (port: number) => Promise.resolve({ port, address: '127.0.0.1' }),
    // As src/backends/bwrap/launch.ts forwards them (egress, supervise) and bwrapProbe expects.
    targets: { proxy: { host: '127.0.0.1', port: 3128 }, endpoints: [3128, 8419].map((port) => ({ host: '127.0.0.1', port })) },
    expect: { interfaces: ['lo'], routes: false, seccomp: process.arch === 'x64' },
    hostHome: [homedir(), join(homedir(), '.ssh')],
    leftovers: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  });

/** Host-home entries an agent image does not ship itself (Debian's /root has .bashrc and .profile). */
function hostHomeEntries(): string[] {
  const own = new Set(['.bashrc', '.profile', '.cache', '.config', '.local']);
  const entries = existsSync(homedir()) ? readdirSync(homedir()).filter((e) => !own.has(e)) : [];
  return [join(homedir(), '.ssh'), ...entries.slice(0, 20).map((e) => join(homedir(), e))];
}

/** The upstream is a fake in this process behind a relay container on a network of the test's own, which the bundle joins. */
const dockerSide =
  (runtime: DockerRuntime) =>
  async (): Promise<Side> => {
    const up = await startDockerUpstream();
    return {
      env: dockerBottleEnv(up, runtime),
      node: GUEST_PROBE_NODE,
      upstreamHost: up.hostAddress,
      reach: async (port) => ({ port: 443, address: await up.relay(port) }),
      targets: dockerProbeTargets(false),
      expect: dockerExpectations(runtime),
      hostHome: hostHomeEntries(),
      leftovers: dockerLeftovers,
      close: () => up.close(),
    };
  };

const bwrapMissing = missingTool('bwrap') ?? missingTool('socat', ['-V']);
const BACKENDS: Backend[] = [
  { name: 'bwrap', missing: bwrapMissing, side: bwrapSide },
  { name: 'docker (runc)', missing: dockerAgentMissing('runc'), runtime: 'runc', side: dockerSide('runc') },
  { name: 'docker (runsc)', missing: dockerAgentMissing('runsc'), runtime: 'runsc', side: dockerSide('runsc') },
];

interface CurlResult {
  code: number;
  body: string;
}
interface ProbeResult {
  agentStartedAt: number;
  kernel: string;
  containmentSpec: ProbeSpec;
  containment: ProbeReport;
  unrouted: CurlResult;
  routed: CurlResult;
  dlpBody: CurlResult;
  dlpHeader: CurlResult;
  dlpQuery: CurlResult;
  redacted: CurlResult;
  writes: Record<string, string>;
  openForWrite: Record<string, string>;
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

/**
 * What each boundary does with calls that widen the kernel's attack surface
 * (errno 1 = EPERM from a filter; another errno: a kernel saw the call).
 */
function expectSeccomp(backend: Backend, probe: ProbeResult): void {
  const r = probe.seccomp;
  if (typeof r === 'string') throw new Error(`the seccomp probe did not run: ${r}`);
  // Every backend runs the agent under the same deny list (src/containment/seccomp.ts): bwrap installs it
  // itself; docker stacks it on the runtime's own profile, which alone let io_uring reach the host kernel
  // under runc (Docker 20.10) and let gVisor's kernel make user namespaces.
  expect(r).toEqual({ keyctl: 1, ptrace: 1, bpf: 1, userfaultfd: 1, io_uring_setup: 1, getpid: 'ok', tiocsti: 1, mount: 1, unshare: 1 });
  // runc: the host's kernel sees what passes; gVisor: its own kernel answers, never the host's.
  if (backend.runtime === 'runc') expect(probe.kernel).toBe(release());
  if (backend.runtime === 'runsc') expect(probe.kernel).not.toBe(release());
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
    let side: Side;
    let slug: string;
    const injected = `escape-injected-${randomBytes(12).toString('hex')}`;
    const dlpSecret = fakeGithubToken('escape');
    const tmpMarker = `bb-escape-${randomBytes(6).toString('hex')}`;
    const sleepMarker = `${300 + Math.floor(Math.random() * 600)}.${Math.floor(Math.random() * 1e6)}`;

    beforeAll(async () => {
      h = tempHome();
      side = await backend.side();
      const pki = await makeUpstreamPki(['routed.test', 'redact.test']);
      upstream = await startUpstream(pki, undefined, side.upstreamHost);
      const routed = await side.reach(upstream.port);
      const caFile = h.write('upstream-ca.pem', pki.caPem);

      // The self-test's own canaries on the host's loopback and other addresses (docker: its bridges too), TCP and UDP.
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
      port: ${routed.port}
      auth: {scheme: Bearer, token_ref: ESCAPE_TOKEN}
      dlp: {outbound_on_match: block}
    - host: redact.test
      port: ${routed.port}
      dlp: {outbound_on_match: redact}`,
      );
      h.writeAgent('probe', 'bottle: escape');
      writeFileSync(join(h.cwd, 'probe.mjs'), PROBE_SCRIPT);
      const dnsName = await hostResolvedName([]);
      const containment: Omit<ProbeSpec, 'ca'> & { ca: Omit<ProbeSpec['ca'], 'der'> } = {
        version: 1,
        canaries: canaries.list,
        ...(dnsName ? { dnsName } : {}),
        endpoints: side.targets.endpoints,
        ...(side.targets.endpointsRemote === true ? { endpointsRemote: true } : {}),
        proxy: side.targets.proxy,
        unroutedHost: 'unrouted.test',
        ca: { bundlePath: GUEST_CA_BUNDLE, filePath: GUEST_CA_FILE, leafFor: { host: 'routed.test', port: routed.port } },
        scanDirs: ['/workspace', GUEST_HOME, '/run', '/tmp', '/etc', '/var/tmp'],
        limits: { attemptMs: 2_000, fileBytes: 8 << 20, totalBytes: 32 << 20, entries: 50_000 },
      };
      writeFileSync(
        join(h.cwd, 'probe-config.json'),
        JSON.stringify({
          probeModule: GUEST_PROBE_SCRIPT,
          containment,
          routedUrl: `https://routed.test:${routed.port}`,
          redactUrl: `https://redact.test:${routed.port}`,
          dlpSecret,
          tmpMarker,
          sleepMarker,
          otherSocket: join(otherDir, 'egress.sock'),
          mustNotExist: [h.root, h.home, ...side.hostHome, '/var/run/docker.sock', '/run/docker.sock'],
          readOnlyBinds: [GUEST_PROBE_NODE, GUEST_PROBE_SCRIPT],
        }),
      );
      run = await runBottleCli(['start', 'probe', '--headless', '--cwd', '--prompt', `${side.node} /workspace/probe.mjs`], {
        cwd: h.cwd,
        env: {
          ...side.env,
          BOT_BOTTLE_HOME: h.home,
          BOT_BOTTLE_RESOLVE: `routed.test:${routed.port}:${routed.address},redact.test:${routed.port}:${routed.address}`,
          BOT_BOTTLE_UPSTREAM_CA: caFile,
          ESCAPE_TOKEN: injected,
        },
        timeoutMs: 240_000,
      });
      slug = existsSync(join(h.home, 'state')) ? (readdirSync(join(h.home, 'state')).find((d) => d.startsWith('probe-')) ?? 'x') : 'x';
      probe = probeResults(run.stdout, run.stderr) as unknown as ProbeResult;
      readable = probe.containment.texts.map((t) => Buffer.from(t.data, 'base64').toString('latin1')).join('\n');
      checks = evaluate(probe.containmentSpec, probe.containment, {
        ...side.expect,
        canaryHits: canaries.hits,
        // The bundle's command line names this test's state folder; the test runner's own is a host process too.
        hostProcessMarkers: [join(h.home, 'state'), readFileSync('/proc/self/cmdline', 'latin1').replace(/\0/g, ' ').trim()],
        needles: [{ label: 'the injected token', forms: needleForms(injected) }],
      });
    }, 600_000);

    afterAll(async () => {
      await upstream?.close();
      await side?.close();
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
      // As a set: gVisor lists its interfaces in no fixed order.
      expect([...probe.containment.network.interfaces].sort()).toEqual([...side.expect.interfaces].sort());
      if (!side.expect.routes) expect(probe.containment.network.routes).toEqual([]);
    });

    it('ran the containment self-test at launch, before the agent, and recorded that it passed', () => {
      const record = join(h.home, 'state', slug, 'containment.json');
      const recorded = JSON.parse(readFileSync(record, 'utf8')) as { result: string; checks: Array<{ id: string; status: string }> };
      expect(recorded.result).toBe('passed');
      expect(recorded.checks.map((c) => c.id)).toEqual(Object.keys(CHECKS));
      expect(recorded.checks.filter((c) => c.status === 'failed')).toEqual([]);
      // Written once, by the verdict: before the agent's first line ran (same machine, same clock).
      expect(Math.floor(statSync(record).mtimeMs)).toBeLessThanOrEqual(probe.agentStartedAt);
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
      for (const p of ['/usr/escape', '/etc/escape', '/escape', '/run/bot-bottle/sock/escape', '/run/bot-bottle/seed/escape', `${dirname(GUEST_PROBE_SCRIPT)}/escape`]) expect(w[p], p).not.toBe('written');
      expect(w['/workspace/ok']).toBe('written');
      expect(Object.entries(w).find(([p]) => p.startsWith('/home/'))?.[1]).toBe('written');
      expect(existsSync(join('/tmp', tmpMarker))).toBe(false);
      expect(readFileSync(join(h.home, 'state', slug, 'workspace', 'ok'), 'utf8')).toBe('x');
      // What the bottle carries from the host (its self-test's node and script) is bound read-only.
      for (const [p, outcome] of Object.entries(probe.openForWrite)) expect(outcome, p).not.toBe('opened');
    });

    it('cannot use the kernel interfaces the seccomp filter denies', () => {
      expectSeccomp(backend, probe);
    });

    it('leaves no process behind: neither agent children nor the bundle', () => {
      const procs = hostProcesses();
      expect(procs.filter((p) => p.includes(`sleep ${sleepMarker}`))).toEqual([]);
      expect(procs.filter((p) => p.includes('sidecars') && p.includes(h.home))).toEqual([]);
    });

    it('leaves no container, network or host firewall rule behind', async () => {
      expect(await side.leftovers(slug)).toEqual([]);
    });
  });
}

/**
 * The negative the self-test exists for, through the whole launch: a host
 * firewall that accepts the bottle's rule, lists it when asked, and never
 * applies it (a wrapper, a policy, a broken nftables shim). Nothing before
 * the self-test can tell; the self-test must see the bridge reach the host
 * and refuse before the agent runs, leaving nothing behind.
 */
function lyingFirewall(dir: string): void {
  for (const tool of ['iptables', 'ip6tables']) {
    const real = findOnPath(tool, process.env.PATH);
    if (real === undefined) continue;
    writeFileSync(
      join(dir, tool),
      `#!/bin/sh
for a in "$@"; do
  case "$a" in
    -I) touch "${dir}/${tool}.rule"; exit 0 ;;
    -C) [ -f "${dir}/${tool}.rule" ]; exit $? ;;
    -D) rm -f "${dir}/${tool}.rule"; exit 0 ;;
  esac
done
exec ${real} "$@"
`,
    );
    chmodSync(join(dir, tool), 0o755);
  }
}

for (const runtime of ['runc', 'runsc'] as const) {
  describe.skipIf(dockerAgentMissing(runtime))(`the containment self-test fails a docker launch closed (${runtime})`, () => {
    it('refuses a bottle whose internal bridge reaches the host, before the agent runs, leaving nothing', async () => {
      const h = tempHome();
      const bin = mkdtempSync(join(tmpdir(), 'bb-lying-fw-'));
      try {
        lyingFirewall(bin);
        h.writeBottle('b', 'agent_provider: {template: shell}');
        h.writeAgent('a', 'bottle: b');
        const slug = `escfw-${runtime}-${randomBytes(2).toString('hex')}`;
        const run = await runBottleCli(['start', 'a', '--headless', '--label', slug, '--prompt', 'touch /workspace/agent-ran'], {
          cwd: h.cwd,
          env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'docker', [RUNTIME_ENV]: runtime, ...OFFLINE_BUILD.env, PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` },
          timeoutMs: 240_000,
        });
        expect(run.exitCode).not.toBe(0);
        expect(run.stderr).not.toContain('unexpected error');
        // The rule was "in place" as far as the launch could tell (added, listed, removed): only the self-test caught it.
        expect(existsSync(join(bin, 'iptables.rule'))).toBe(false);
        expect(run.stderr).toContain('containment check failed; the agent was not started');
        expect(run.stderr).toMatch(/host-addresses FAILED: .*connected/);
        expect(existsSync(join(h.home, 'state', slug, 'workspace', 'agent-ran'))).toBe(false);
        const recorded = JSON.parse(readFileSync(join(h.home, 'state', slug, 'containment.json'), 'utf8')) as { result: string };
        expect(recorded.result).toBe('failed');
        expect(await dockerLeftovers(slug)).toEqual([]);
      } finally {
        rmSync(bin, { recursive: true, force: true });
        h.cleanup();
      }
    }, 300_000);
  });
}

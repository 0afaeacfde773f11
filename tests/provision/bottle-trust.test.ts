import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { processAlive } from '../../src/util/process.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUpstreamPki, startUpstream } from '../egress/support.js';
import { runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * Inside a real bottle, the everyday TLS clients trust the bottle's egress CA
 * with no flags at all, and the agent's git identity is set.
 */
const missing = missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? missingTool('python3') ?? missingTool('openssl', ['version']);

describe.skipIf(missing)('provisioning inside a bwrap bottle', () => {
  let h: TempHome;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let run: BottleRun;
  const results = new Map<string, string>();

  beforeAll(async () => {
    h = tempHome();
    const pki = await makeUpstreamPki(['trust.test']);
    upstream = await startUpstream(pki);
    const caFile = h.write('upstream-ca.pem', pki.caPem);
    h.writeBottle(
      'trust',
      `agent_provider: {template: shell}
env: {FROM_MANIFEST: "literal-value"}
git-gate:
  user: {name: Trusty Bot, email: trusty@example.com}
egress:
  routes:
    - host: trust.test
      port: ${upstream.port}
      git: {fetch: true}`,
    );
    h.writeAgent('t', 'bottle: trust');
    const url = `https://trust.test:${upstream.port}`;
    // Each line: NAME <result>. No tool gets a CA flag or a proxy flag: the bottle's defaults must do.
    const script = [
      `echo "curl $(curl -sS -o /dev/null -w '%{http_code}' ${url}/curl 2>&1)"`,
      `echo "python $(python3 -c "import urllib.request;print(urllib.request.urlopen('${url}/python').status)" 2>&1 | tail -1)"`,
      `echo "openssl $(openssl s_client -proxy 127.0.0.1:3128 -connect trust.test:${upstream.port} -servername trust.test -verify_return_error </dev/null 2>&1 | grep -o 'Verify return code: [0-9]* ([a-z ]*)' | head -1)"`,
      `echo "git $(git ls-remote ${url}/repo.git 2>&1 | grep -ciE 'certificate|ssl' )"`,
      `echo "node $(node /workspace/node-probe.mjs ${upstream.port} 2>&1)"`,
      `echo "gituser $(git config --global user.name)/$(git config --global user.email)"`,
      `echo "env $FROM_MANIFEST"`,
      `echo "mcp $(curl -s -X POST -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}' "$MCP_SUPERVISE_URL" | grep -o '"name":"[a-z-]*"' | head -1)"`,
    ].join('\n');
    writeFileSync(join(h.cwd, 'probe.sh'), `${script}\n`);
    // Node's own https module does not read proxy variables: tunnel by hand, then let TLS use Node's default trust (plus NODE_EXTRA_CA_CERTS).
    writeFileSync(
      join(h.cwd, 'node-probe.mjs'),
      `import http from 'node:http'; import tls from 'node:tls';
const port = Number(process.argv[2]);
const req = http.request({ host: '127.0.0.1', port: 3128, method: 'CONNECT', path: 'trust.test:' + port });
req.on('connect', (_res, socket) => {
  const t = tls.connect({ socket, servername: 'trust.test' }, () => { console.log(t.authorized ? 'authorized' : 'unauthorized'); t.destroy(); });
  t.on('error', (e) => console.log('error ' + e.code));
});
req.end();`,
    );
    run = await runBottleCli(['start', 't', '--headless', '--cwd', '--prompt', 'sh /workspace/probe.sh'], {
      cwd: h.cwd,
      env: {
        BOT_BOTTLE_HOME: h.home,
        BOT_BOTTLE_BACKEND: 'bwrap',
        BOT_BOTTLE_RESOLVE: `trust.test:${upstream.port}:127.0.0.1`,
        BOT_BOTTLE_UPSTREAM_CA: caFile,
      },
    });
    for (const line of run.stdout.split('\n')) {
      const [name, ...rest] = line.split(' ');
      if (name) results.set(name, rest.join(' '));
    }
  }, 120_000);

  afterAll(async () => {
    await upstream?.close();
    h?.cleanup();
  });

  it('curl uses the system bundle path', () => expect(results.get('curl'), run.stderr).toBe('200'));
  it('python (urllib) trusts it', () => expect(results.get('python')).toBe('200'));
  it('openssl verifies the chain', () => expect(results.get('openssl')).toBe('Verify return code: 0 (ok)'));
  it('git has no certificate complaint', () => expect(results.get('git')).toBe('0'));
  it('node trusts it through NODE_EXTRA_CA_CERTS', () => expect(results.get('node')).toBe('authorized'));
  it('the git identity and manifest env are set', () => {
    expect(results.get('gituser')).toBe('Trusty Bot/trusty@example.com');
    expect(results.get('env')).toBe('literal-value');
  });
  it('reaches the supervise MCP server at MCP_SUPERVISE_URL', () => {
    expect(results.get('mcp')).toMatch(/^"name":"/);
  });
  it('the requests really went through egress to the upstream', () => {
    expect(upstream.seen.map((r) => r.url)).toEqual(expect.arrayContaining(['/curl', '/python']));
  });
});

describe.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']))('headless lifecycle on bwrap', () => {
  it("exits with the agent's exit code, keeps state for resume and removes runtime files", async () => {
    const h = tempHome();
    try {
      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b');
      const run = await runBottleCli(['start', 'a', '--headless', '--label', 'life', '--prompt', 'echo out; exit 7'], {
        cwd: h.cwd,
        env: { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap' },
      });
      expect(run.stdout.trim()).toBe('out');
      expect(run.exitCode).toBe(7);
      expect(existsSync(join(h.home, 'state', 'life', 'metadata.json'))).toBe(true);
      expect(existsSync(join(h.home, 'state', 'life', 'run'))).toBe(false);
      const list = await runBottleCli(['list', 'active'], { cwd: h.cwd, env: { BOT_BOTTLE_HOME: h.home } });
      expect(list.stdout).toContain('life\tbwrap\tstopped');
    } finally {
      h.cleanup();
    }
  });
});

describe.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']))('interrupting a headless bottle', () => {
  it('Ctrl-C (SIGINT) tears down the sandbox, the bundle and the sockets, leaving no process', async () => {
    const h = tempHome();
    try {
      h.writeBottle('b', 'agent_provider: {template: shell}');
      h.writeAgent('a', 'bottle: b');
      const marker = `${400 + Math.floor(Math.random() * 500)}.${Math.floor(Math.random() * 1e6)}`;
      const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
      const child = spawn(process.execPath, [cli, 'start', 'a', '--headless', '--label', 'intr', '--prompt', `sleep ${marker}`], {
        cwd: h.cwd,
        env: { PATH: process.env.PATH, BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_STANDBY: '0' },
        stdio: 'ignore',
      });
      const pidsFile = join(h.home, 'state', 'intr', 'run', 'pids.json');
      // The CLI records itself first, then the sandbox and the bundle as each starts (they start side by side).
      type Recorded = Partial<Record<'sandbox' | 'sidecars', { pid: number }>>;
      const read = (): Recorded => (existsSync(pidsFile) ? (JSON.parse(readFileSync(pidsFile, 'utf8')) as Recorded) : {});
      for (let i = 0; i < 200 && (read().sandbox === undefined || read().sidecars === undefined); i++) await new Promise((r) => setTimeout(r, 50));
      const recorded = read() as Record<'sandbox' | 'sidecars', { pid: number }>;
      const pids = { sandbox: recorded.sandbox.pid, sidecars: recorded.sidecars.pid };
      const env = { BOT_BOTTLE_HOME: h.home };
      expect((await runBottleCli(['list', 'active'], { cwd: h.cwd, env })).stdout).toContain('intr\tbwrap\trunning');
      const again = await runBottleCli(['resume', 'intr', '--headless', '--prompt', 'true'], { cwd: h.cwd, env });
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toContain('bottle intr is already running');
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(processAlive(pids.sandbox)).toBe(false);
      expect(processAlive(pids.sidecars)).toBe(false);
      expect(existsSync(join(h.home, 'state', 'intr', 'run'))).toBe(false);
      const cmdlines = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'latin1');
          } catch {
            return '';
          }
        });
      expect(cmdlines.filter((c) => c.includes(marker))).toEqual([]);
    } finally {
      h.cleanup();
    }
  });
});

/** The unprivileged operator must be able to read the checkout (not so when it lives under /root). */
function checkoutReadableByNobody(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to switch to an unprivileged operator';
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', join(import.meta.dirname, '..', '..', 'dist', 'cli.js')]);
    return undefined;
  } catch {
    return 'the checkout is not readable by uid 65534';
  }
}

describe.skipIf(missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? checkoutReadableByNobody())(
  'an unprivileged operator',
  () => {
    it('runs a bottle without root (no staging, no setpriv), with the same isolation', async () => {
      const h = tempHome();
      try {
        h.writeBottle('b', 'agent_provider: {template: shell}');
        h.writeAgent('a', 'bottle: b');
        const chownAll = (dir: string): void => {
          chownSync(dir, 65534, 65534);
          for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) chownSync(join(e.parentPath, e.name), 65534, 65534);
        };
        chownAll(h.root);
        const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
        const result = await execa(
          'setpriv',
          ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'start', 'a', '--headless', '--label', 'nonroot', '--prompt', 'id -u; echo hi > /workspace/x; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "'],
          { cwd: h.cwd, env: { PATH: '/usr/bin:/bin', HOME: h.userHome, BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap' }, extendEnv: false, reject: false, stdin: 'ignore' },
        );
        expect(result.stderr).not.toContain('unexpected');
        expect(result.stdout.split('\n')).toEqual(['1000', 'lo']);
        expect(result.exitCode).toBe(0);
        expect(statSync(join(h.home, 'state', 'nonroot', 'workspace', 'x')).uid).toBe(65534);
      } finally {
        h.cleanup();
      }
    });
  },
);

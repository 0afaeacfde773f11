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
import { readFileSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { release } from 'node:os';

const cfg = JSON.parse(readFileSync('/workspace/probe-config.json', 'utf8'));
// When the agent started: the launch must have recorded its self-test verdict before this.
const out = { agentStartedAt: Date.now(), kernel: release() };

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
for (const p of ['/usr/escape', '/etc/escape', '/escape', '/run/bot-bottle/sock/escape', '/run/bot-bottle/seed/escape', '/workspace/ok', process.env.HOME + '/ok', '/tmp/' + cfg.tmpMarker, cfg.probeModule.replace(/[^/]*$/, 'escape')]) out.writes[p] = tryWrite(p);

// Files bound read-only from the host (the probe's node and script): opened for writing, never written.
out.openForWrite = {};
for (const p of cfg.readOnlyBinds) {
  try { closeSync(openSync(p, 'r+')); out.openForWrite[p] = 'opened'; } catch (e) { out.openForWrite[p] = e.code || String(e); }
}

out.paths = {};
for (const p of cfg.mustNotExist) out.paths[p] = existsSync(p);
out.otherSocket = await new Promise((resolve) => {
  const s = connect({ path: cfg.otherSocket });
  s.once('connect', () => { s.destroy(); resolve('connected'); });
  s.once('error', (e) => resolve(e.code || String(e)));
});

// Kernel interfaces a filter denies (errno 1 = EPERM; any other errno: the kernel saw the call), and one it
// allows. In perl (Essential in Debian, so in every agent image as on the host): node has no raw syscall.
// ptrace attaches to a child of its own; unshare asks for a user namespace last (it succeeds where allowed).
try {
  out.seccomp = JSON.parse(execFileSync('perl', ['-e', [
    'my %r;',
    'sub sc { my ($n, @a) = @_; push @a, 0 while @a < 6; $! = 0; my $ret = syscall($a[0], $a[1], $a[2], $a[3], $a[4], $a[5]); $r{$n} = $ret == -1 ? $! + 0 : "ok"; }',
    'sc("keyctl", 250); sc("bpf", 321); sc("userfaultfd", 323); sc("io_uring_setup", 425, 1, 0); sc("getpid", 39); sc("mount", 165);',
    'my $pid = fork(); if ($pid == 0) { sleep 5; exit 0; }',
    'sc("ptrace", 101, 16, $pid); kill 9, $pid; waitpid($pid, 0);',
    'my $c = "x"; $! = 0; $r{tiocsti} = ioctl(STDIN, 0x5412, $c) ? "ok" : $! + 0;',
    'sc("unshare", 272, 0x10000000);',
    'print "{", join(",", map { "\\"$_\\":" . ($r{$_} eq "ok" ? "\\"ok\\"" : $r{$_}) } sort keys %r), "}\n";',
  ].join('\n')], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }));
} catch (e) { out.seccomp = String(e.stderr || e.message); }

// A process that tries to outlive the bottle.
spawn('sleep', [cfg.sleepMarker], { detached: true, stdio: 'ignore' }).unref();
console.log('PROBE ' + JSON.stringify(out));
`;

/**
 * `npm run bench:start`: wall time of `bot-bottle start --headless --prompt true`
 * on the bwrap backend and the sidecar bundle's peak RSS, median of 10, next to
 * the floor it cannot beat (node start-up, a bare bwrap sandbox) in the same run.
 * Each run is paired with one `--no-containment-check` run (alternated, so both
 * see the same machine) to show what the containment self-test adds. Then
 * headless `claude -p` to first output through a bottle vs. bare against the
 * same fake API (bench/claude-start.ts), when Claude Code is installed.
 * `-- --backend docker`: the docker backend against a bare `docker run` (bench/docker-start.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { standbyDir, standbySockets, stopStandbys } from '../src/launch/standby.js';
import { benchClaudeStart, type ClaudeStartResult } from './claude-start.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, timed } from './stats.js';

const backendFlag = process.argv.indexOf('--backend');
if (backendFlag >= 0 && process.argv[backendFlag + 1] === 'docker') {
  await import('./docker-start.js');
  process.exit(0);
}

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const root = mkdtempSync(join(tmpdir(), 'bb-bench-start-'));
const home = join(root, 'home');
cpSync('examples/bottles', join(home, 'bottles'), { recursive: true });
cpSync('examples/agents', join(home, 'agents'), { recursive: true });
// BENCH_CLI: another build's CLI (e.g. the previous commit's, to compare in one window).
const cli = process.env.BENCH_CLI ?? join(process.cwd(), 'dist', 'cli.js');
// BENCH_CLAUDE_ONLY=1: only the claude -p comparison. BENCH_COMPARE_CLI: a second build's CLI, its claude -p bottle alternated with this one's
// (`cold`: this build without standby bundles).
const claudeOnly = process.env.BENCH_CLAUDE_ONLY === '1';

/** CPU (user + system, ms) of every child this process has waited for, and theirs: a busy machine slows wall time, not this. */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

function cpuOf(fn: () => number, into: number[]): number {
  const before = childrenCpuMs();
  const wall = fn();
  into.push(childrenCpuMs() - before);
  return wall;
}

// BOT_BOTTLE_STANDBY=0: every launch starts its own bundle (a first launch, or standby bundles off).
const standbyOff = process.env.BOT_BOTTLE_STANDBY === '0' ? { BOT_BOTTLE_STANDBY: '0' } : {};
const env = { PATH: process.env.PATH ?? '', BOT_BOTTLE_HOME: home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_TRACE: '1', ...standbyOff };
const starts: number[] = [];
const unchecked: number[] = [];
const cpuChecked: number[] = [];
const cpuUnchecked: number[] = [];
const rss: number[] = [];
const phases = new Map<string, number[]>();
const readyUnchecked: number[] = [];
const standbyCpu: number[] = [];
/**
 * A launch's end starts the next launch's standby bundle (src/launch/standby.ts): wait (bounded) until it
 * listens, so its loading lands on no timed run, and note the CPU it spent, which no waited child counts.
 */
function awaitStandby(stderr: string): void {
  if (!stderr.includes('standby sidecar bundle started')) return;
  const dir = standbyDir(home);
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 500; i++) {
    const pid = readdirSync('/proc').find((d) => {
      try {
        const argv = readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0');
        return /^\d+$/.test(d) && (argv[argv.indexOf('--standby') + 1] ?? '').startsWith(dir);
      } catch {
        return false;
      }
    });
    if (pid !== undefined && standbySockets(home).length > 0) {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      standbyCpu.push(((Number(f[11]) + Number(f[12])) * 1000) / 100);
      return;
    }
    Atomics.wait(sleep, 0, 0, 10);
  }
  throw new Error(`the standby bundle did not listen under ${dir} within 5 s`);
}
const run = (extra: string[]): string => {
  const r = spawnSync(process.execPath, [cli, 'start', 'shell', '--headless', '--prompt', 'true', ...extra], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`start failed (${r.status}): ${r.stderr}`);
  return r.stderr;
};
for (let i = 0; i < (claudeOnly ? 0 : RUNS); i++) {
  let stderr = '';
  let stderrUnchecked = '';
  // Each waits for the standby its run started only after its own time and CPU are taken.
  const checked = (): number => {
    const wall = cpuOf(() => timed(() => (stderr = run([]))), cpuChecked);
    awaitStandby(stderr);
    return wall;
  };
  const bare = (): number => {
    const wall = cpuOf(() => timed(() => (stderrUnchecked = run(['--no-containment-check']))), cpuUnchecked);
    const ready = /\[bot-bottle trace ([\d.]+) ms\] sidecars ready/.exec(stderrUnchecked)?.[1];
    if (ready) readyUnchecked.push(Number(ready));
    awaitStandby(stderrUnchecked);
    return wall;
  };
  // Alternate which of the pair goes first, so neither always runs on a warmer page cache.
  if (i % 2 === 0) {
    starts.push(checked());
    unchecked.push(bare());
  } else {
    unchecked.push(bare());
    starts.push(checked());
  }
  const kb = /peak RSS (\d+) kB/.exec(stderr)?.[1];
  if (kb) rss.push(Number(kb) / 1024);
  for (const m of stderr.matchAll(/\[bot-bottle trace ([\d.]+) ms\] ([a-z ]+?)(?::|$| peak| in | \()/gm)) {
    const list = phases.get(m[2] ?? '') ?? [];
    list.push(Number(m[1]));
    phases.set(m[2] ?? '', list);
  }
}
const nodeStart = Array.from({ length: claudeOnly ? 0 : RUNS }, () => timed(() => execFileSync(process.execPath, ['-e', '0'])));
const bareBwrap = Array.from({ length: claudeOnly ? 0 : RUNS }, () =>
  timed(() => execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bwrap', '--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', 'true'])),
);
let claude: ClaudeStartResult | string;
try {
  execFileSync('claude', ['--version'], { stdio: 'ignore' });
  claude = process.getuid?.() === 0 ? await benchClaudeStart(root, cli, RUNS, process.env.BENCH_COMPARE_CLI) : 'skipped: needs root (the fake API listens on port 443)';
} catch (err) {
  claude = `skipped: ${err instanceof Error && 'code' in err && err.code === 'ENOENT' ? 'claude is not installed (scripts/install-agents.sh)' : String(err)}`;
}
await stopStandbys(home);
rmSync(root, { recursive: true, force: true });

const fmt = (n: number): string => n.toFixed(0);
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
if (!claudeOnly) {
  console.log(`bot-bottle start --headless --prompt true (bwrap), ${RUNS} runs`);
  console.log('| measure | median | min | max |');
  console.log('|---|---|---|---|');
  console.log(`| start, wall (ms) | ${fmt(median(starts))} | ${fmt(Math.min(...starts))} | ${fmt(Math.max(...starts))} |`);
  console.log(`| start with --no-containment-check, wall (ms) | ${fmt(median(unchecked))} | ${fmt(Math.min(...unchecked))} | ${fmt(Math.max(...unchecked))} |`);
  console.log(`| containment self-test adds (ms, difference of medians) | ${fmt(median(starts) - median(unchecked))} | | |`);
  console.log(`| CPU user+sys, all processes (ms) | ${fmt(median(cpuChecked))} | ${fmt(Math.min(...cpuChecked))} | ${fmt(Math.max(...cpuChecked))} |`);
  console.log(`| CPU with --no-containment-check (ms) | ${fmt(median(cpuUnchecked))} | ${fmt(Math.min(...cpuUnchecked))} | ${fmt(Math.max(...cpuUnchecked))} |`);
  if (standbyCpu.length > 0) console.log(`| CPU of the standby bundle each launch leaves for the next, before it is claimed (ms; not in the rows above) | ${fmt(median(standbyCpu))} | ${fmt(Math.min(...standbyCpu))} | ${fmt(Math.max(...standbyCpu))} |`);
  console.log(`| bundle peak RSS (MB) | ${median(rss).toFixed(1)} | ${Math.min(...rss).toFixed(1)} | ${Math.max(...rss).toFixed(1)} |`);
  console.log(`| floor: node -e 0 (ms) | ${fmt(median(nodeStart))} | ${fmt(Math.min(...nodeStart))} | ${fmt(Math.max(...nodeStart))} |`);
  console.log(`| floor: bare bwrap true (ms) | ${fmt(median(bareBwrap))} | ${fmt(Math.min(...bareBwrap))} | ${fmt(Math.max(...bareBwrap))} |`);
  console.log(`\nphase (median ms since the CLI process started; with --no-containment-check the bundle was ready at ${fmt(median(readyUnchecked))}):`);
  for (const [phase, xs] of phases) console.log(`  ${phase}: ${fmt(median(xs))}`);
  const added = median(starts) - median(unchecked);
  console.log(`\ntargets: start < 500 ms (${median(starts) < 500 ? 'met' : 'missed'}), bundle RSS < 80 MB (${median(rss) < 80 ? 'met' : 'missed'}), self-test ≤ 150 ms (${added <= 150 ? 'met' : 'missed'})`);
}

if (typeof claude === 'string') console.log(`\nclaude -p, bottle vs bare: ${claude}; load average ${load}`);
else {
  const overhead = median(claude.bottle.first) - median(claude.bare.first);
  const row = (label: string, xs: number[]): string => `| ${label} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} |`;
  console.log(`\nclaude -p to first output against the fake API (bwrap), ${RUNS} runs each, alternated`);
  console.log('| measure (ms since spawn) | median | min | max |');
  console.log('|---|---|---|---|');
  console.log(row('bottle: first output', claude.bottle.first));
  console.log(row('bare: first output', claude.bare.first));
  console.log(row('bottle: first API request', claude.bottle.firstRequest));
  console.log(row('bare: first API request', claude.bare.firstRequest));
  console.log(row('bottle: Messages API call', claude.bottle.messages));
  console.log(row('bare: Messages API call', claude.bare.messages));
  console.log(row('bare with the supervise MCP server: first output', claude.bareMcp.first));
  console.log(row('bare with the supervise MCP server: Messages API call', claude.bareMcp.messages));
  if (claude.compare) {
    console.log(row(`bottle with ${process.env.BENCH_COMPARE_CLI}: first output`, claude.compare.first));
    console.log(row(`bottle with ${process.env.BENCH_COMPARE_CLI}: first API request`, claude.compare.firstRequest));
    console.log(`| overhead with ${process.env.BENCH_COMPARE_CLI} | ${fmt(median(claude.compare.first) - median(claude.bare.first))} | | |`);
  }
  const { bottle, bare } = claude;
  const gap = (to: number[], from: number[]): number => median(to) - median(from);
  console.log(`\nwhere the bottle's time goes (differences of medians, ms; bottle vs bare):`);
  console.log('| step | bottle | bare | added |');
  console.log('|---|---|---|---|');
  console.log(`| spawn → bundle ready (CLI start, plan, bundle start) | ${fmt(median(bottle.ready))} | | ${fmt(median(bottle.ready))} |`);
  console.log(`| bundle ready → agent released (containment verdict) | ${fmt(gap(bottle.released, bottle.ready))} | | ${fmt(gap(bottle.released, bottle.ready))} |`);
  console.log(`| agent start → its first API request | ${fmt(gap(bottle.firstRequest, bottle.released))} | ${fmt(median(bare.firstRequest))} | ${fmt(gap(bottle.firstRequest, bottle.released) - median(bare.firstRequest))} |`);
  console.log(`| first API request → Messages API call | ${fmt(gap(bottle.messages, bottle.firstRequest))} | ${fmt(gap(bare.messages, bare.firstRequest))} | ${fmt(gap(bottle.messages, bottle.firstRequest) - gap(bare.messages, bare.firstRequest))} |`);
  console.log(`| Messages API call → first output | ${fmt(gap(bottle.first, bottle.messages))} | ${fmt(gap(bare.first, bare.messages))} | ${fmt(gap(bottle.first, bottle.messages) - gap(bare.first, bare.messages))} |`);
  console.log(`\nbottle runs that took a standby bundle (launch/standby.ts): ${bottle.standby} of ${bottle.first.length}${claude.compare ? `; with ${process.env.BENCH_COMPARE_CLI}: ${claude.compare.standby}` : ''}`);
  console.log(`\ntarget: bottle overhead < 400 ms: ${fmt(overhead)} ms (${overhead < 400 ? 'met' : 'missed'}); load average ${load}`);
  const mcp = median(claude.bareMcp.first) - median(claude.bare.first);
  console.log(`of which Claude Code's own start-up with an MCP server registered (bare with supervise vs bare): ${fmt(mcp)} ms; the bottle vs bare with supervise: ${fmt(overhead - mcp)} ms`);
}

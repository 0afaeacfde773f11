/**
 * `npm run bench:start -- --backend docker`: warm start (images cached) of a
 * docker bottle to agent-ready, next to a bare `docker run --rm <agent image>
 * true` under the same runtime, alternated in one run (median of BENCH_RUNS,
 * default 5). "Agent ready" is the moment the launcher released the agent
 * (its `agent started` trace, ms since the CLI started); wall is the whole
 * `start --headless --prompt true`, teardown included. A third series with
 * --no-containment-check shows what the self-test adds. BENCH_DOCKER_RUNTIMES=runc,runsc
 * alternates both runtimes in one run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureAgentImage, ensureSidecarsImage } from '../src/backends/docker/images.js';
import { detectRuntime, type DockerRuntime } from '../src/backends/docker/runtime.js';
import { median, timed } from './stats.js';
import { currentShape } from '../src/backends/docker/standby-helper.js';
import { removeHomeStandbys, standbyKey, standbyReady } from '../src/backends/docker/standby.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const root = mkdtempSync(join(tmpdir(), 'bb-bench-docker-'));
const home = join(root, 'home');
cpSync('examples/bottles', join(home, 'bottles'), { recursive: true });
cpSync('examples/agents', join(home, 'agents'), { recursive: true });
// BENCH_CLI: another build's dist/cli.js (its images are built by a first, unmeasured start).
const cli = process.env.BENCH_CLI ?? join(process.cwd(), 'dist', 'cli.js');

// BENCH_DOCKER_RUNTIMES=runc,runsc measures both in one run, alternated (default: the one a bottle would use).
const detected = await detectRuntime();
const runtimes = (process.env.BENCH_DOCKER_RUNTIMES ?? detected.runtime).split(',').filter((r): r is DockerRuntime => r === 'runc' || r === 'runsc');
if (runtimes.length === 0) throw new Error('BENCH_DOCKER_RUNTIMES names no runtime (runc, runsc)');
// Warm: both images exist before the first measured start (built here if not).
const image = await ensureAgentImage({ kind: 'provider', template: 'shell' });
await ensureSidecarsImage();
interface Series {
  ready: number[];
  readyCold: number[];
  wall: number[];
  readyUnchecked: number[];
  wallUnchecked: number[];
  bare: number[];
  phases: Map<string, number[]>;
}
const all = new Map<DockerRuntime, Series>(runtimes.map((r) => [r, { ready: [], readyCold: [], wall: [], readyUnchecked: [], wallUnchecked: [], bare: [], phases: new Map() }]));

// Docker standbys (src/backends/docker/standby.ts): each launch's end starts the next one's bundle and networks in the
// background. Every timed start waits, outside its timing, until that standby waits, so none of its making lands on a
// measured run (bare or bottle). The cold series turns standbys off: a first launch, or one after the idle time.
const standbys = process.env.BOT_BOTTLE_STANDBY !== '0';
const standbyEnv = { ...process.env, BOT_BOTTLE_HOME: home };
const key = standbys ? standbyKey(await currentShape(home, standbyEnv)) : undefined;
async function waitStandby(): Promise<void> {
  if (key === undefined) return;
  for (let i = 0; i < 200; i++) {
    if (await standbyReady(key)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('no docker standby waited 20 s after a launch (see <home>/standby/docker.log)');
}

function start(runtime: DockerRuntime, extra: string[], ready: number[], wall: number[], phases: Map<string, number[]>, cold = false): void {
  const env = { ...process.env, BOT_BOTTLE_HOME: home, BOT_BOTTLE_BACKEND: 'docker', BOT_BOTTLE_TRACE: '1', BOT_BOTTLE_DOCKER_RUNTIME: runtime, ...(cold ? { BOT_BOTTLE_STANDBY: '0' } : {}) };
  let stderr = '';
  wall.push(
    timed(() => {
      const r = spawnSync(process.execPath, [cli, 'start', 'shell', '--headless', '--prompt', 'true', ...extra], { cwd: root, env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`start failed (${r.status}): ${r.stderr}`);
      stderr = r.stderr;
    }),
  );
  const at = /\[bot-bottle trace ([\d.]+) ms\] agent started/.exec(stderr)?.[1];
  if (at === undefined) throw new Error(`no "agent started" trace (BOT_BOTTLE_TRACE): ${stderr}`);
  ready.push(Number(at));
  if (extra.length > 0) return;
  for (const m of stderr.matchAll(/\[bot-bottle trace ([\d.]+) ms\] ([a-z ]+?)(?::|$| peak| in | \()/gm)) {
    const list = phases.get(m[2] ?? '') ?? [];
    list.push(Number(m[1]));
    phases.set(m[2] ?? '', list);
  }
}

// The first start makes the first standby (and with BENCH_CLI, another build's images).
for (const runtime of runtimes) start(runtime, [], [], [], new Map());
await waitStandby();
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const loadBefore = load();
for (let i = 0; i < RUNS; i++) {
  for (const runtime of runtimes) {
    const s = all.get(runtime)!;
    const bare = (): void => void s.bare.push(timed(() => execFileSync('docker', ['run', '--rm', '--runtime', runtime, image.id, 'true'], { stdio: 'ignore' })));
    // Rotate the order so no series always runs on the warmest engine.
    const steps = [
      () => start(runtime, [], s.ready, s.wall, s.phases),
      bare,
      () => start(runtime, ['--no-containment-check'], s.readyUnchecked, s.wallUnchecked, new Map()),
      ...(standbys ? [() => start(runtime, [], s.readyCold, [], new Map(), true)] : []),
    ];
    for (let k = 0; k < steps.length; k++) {
      steps[(i + k) % steps.length]?.();
      await waitStandby();
    }
  }
}
await removeHomeStandbys(home);
rmSync(root, { recursive: true, force: true });

const fmt = (n: number): string => n.toFixed(0);
const row = (label: string, xs: number[]): string => `| ${label} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} |`;
console.log(`load average before ${loadBefore}, after ${load()}`);
for (const [runtime, s] of all) {
  console.log(`\nbot-bottle start shell --headless --prompt true (docker, runtime ${runtime}${runtime === detected.runtime ? `: ${detected.reason}` : ''}), ${RUNS} runs each, alternated`);
  console.log('| measure (ms) | median | min | max |');
  console.log('|---|---|---|---|');
  console.log(row('bottle: CLI start to agent ready', s.ready));
  console.log(row('bottle: wall, teardown included', s.wall));
  if (s.readyCold.length > 0) console.log(row('bottle without a standby (BOT_BOTTLE_STANDBY=0): to agent ready', s.readyCold));
  console.log(row('bottle with --no-containment-check: to agent ready', s.readyUnchecked));
  console.log(row('bottle with --no-containment-check: wall', s.wallUnchecked));
  console.log(row(`bare: docker run --rm --runtime ${runtime} <shell image> true`, s.bare));
  const ratio = median(s.ready) / median(s.bare);
  const cold = s.readyCold.length > 0 ? `, without a standby ${(median(s.readyCold) / median(s.bare)).toFixed(2)}×` : '';
  console.log(`\nratio agent-ready / bare run: ${ratio.toFixed(2)}× (with --no-containment-check ${(median(s.readyUnchecked) / median(s.bare)).toFixed(2)}×${cold}); target ≤ 2×: ${ratio <= 2 ? 'met' : 'missed'}`);
  console.log('\nphase (median ms since CLI start):');
  for (const [phase, xs] of s.phases) console.log(`  ${phase}: ${fmt(median(xs))}`);
}

/**
 * Headless `claude -p` to its first output, through a bottle and bare, against
 * the same fake Anthropic API (tests/agents/fake-anthropic.ts) in one run.
 * Bare is the same program with the same arguments, settings and
 * configuration the bottle provisions, reaching the fake through a CONNECT
 * front (no DNS), without the supervise MCP server (there is none outside a
 * bottle); a third series runs bare with a supervise daemon on loopback
 * registered, to show what Claude Code's own MCP start-up adds. Needs root (the fake listens on port 443, where egress sends
 * api.anthropic.com) and Claude Code installed (scripts/install-agents.sh).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManifestCatalog } from '../src/manifest/catalog.js';
import { CLAUDE_ENV } from '../src/plan/claude.js';
import { resolvePlan } from '../src/plan/resolve.js';
import { claudeGuest } from '../src/provision/claude.js';
import { standbyDir, standbySockets, stopStandbys } from '../src/launch/standby.js';
import { startSupervise } from '../src/sidecars/supervise/index.js';
import { startFakeAnthropic } from '../tests/agents/fake-anthropic.js';

export interface ClaudeStartTimes {
  /** Spawn to the first byte on stdout. */
  first: number[];
  /** Spawn to the first request at the API (the bottle's start-up plus Claude's own). */
  firstRequest: number[];
  /** Spawn to the Messages API call. */
  messages: number[];
  /** Bottle only (BOT_BOTTLE_TRACE, ms since the CLI process started): the bundle's ready line, the agent's release. */
  ready: number[];
  released: number[];
  /** Bottle only: runs whose launch took a standby bundle (launch/standby.ts). */
  standby: number;
}

export interface ClaudeStartResult {
  bottle: ClaudeStartTimes;
  bare: ClaudeStartTimes;
  /** The bottle through `compareCli` (another build), alternated in the same run. */
  compare?: ClaudeStartTimes;
  /**
   * Bare again, with the supervise MCP server registered as the bottle registers it (a supervise daemon on
   * loopback): what Claude Code's own MCP start-up costs, which any bottle with supervise pays.
   */
  bareMcp: ClaudeStartTimes;
}

const PROMPT = 'say: first output';
let started = 0;

/** The newest bottle's sidecar log, each line's time as ms since `since` (BENCH_DUMP). */
function bundleLog(home: string, since: number): string {
  const state = join(home, 'state');
  const logs = readdirSync(state).map((slug) => join(state, slug, 'sidecars.log')).filter((f) => existsSync(f));
  const newest = logs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (newest === undefined) return '(no sidecars.log)';
  const audit = join(newest, '..', 'egress-audit.jsonl');
  return [readFileSync(newest, 'utf8'), existsSync(audit) ? readFileSync(audit, 'utf8') : ''].join('\n').split('\n').filter(Boolean).map((line) => {
    try {
      const e = JSON.parse(line) as { time?: string; [k: string]: unknown };
      const { time, ...rest } = e;
      return `  bundle ${time ? Date.parse(time) - since : '?'} ms ${JSON.stringify(rest).slice(0, 200)}`;
    } catch {
      return `  bundle ${line.slice(0, 200)}`;
    }
  }).join('\n');
}

/** Waits (bounded) until the standby bundle a bottle run started listens under `home`. */
async function standbyListening(home: string, stderr: string): Promise<void> {
  if (!stderr.includes('standby sidecar bundle started')) return;
  for (let i = 0; i < 500; i++) {
    if (standbySockets(home).length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the standby bundle did not listen under ${standbyDir(home)} within 5 s`);
}

/** Milliseconds from spawn to the first byte on stdout, and stderr; fails unless the reply arrives and the exit is clean. */
function firstOutput(file: string, args: string[], env: Record<string, string>, cwd: string): Promise<{ first: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    started = Date.now();
    let first: number | undefined;
    let out = '';
    let err = '';
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (c: Buffer) => {
      first ??= performance.now() - t;
      out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 || first === undefined || !out.includes('FAKE-REPLY first output')) reject(new Error(`${file} exited ${code}: ${out}\n${err}`));
      else resolve({ first, stderr: err });
    });
  });
}

export async function benchClaudeStart(root: string, cli: string, runs: number, compareCli?: string): Promise<ClaudeStartResult> {
  const fake = await startFakeAnthropic();
  const closers: Array<() => Promise<void>> = [];
  try {
    const home = join(root, 'claude-home');
    mkdirSync(join(home, 'bottles'), { recursive: true });
    mkdirSync(join(home, 'agents'), { recursive: true });
    writeFileSync(join(home, 'bottles', 'claude.md'), '---\nagent_provider: {template: claude, auth_token: BENCH_CLAUDE_TOKEN}\n---\n');
    writeFileSync(join(home, 'agents', 'coder.md'), '---\nbottle: claude\n---\n');
    const caFile = join(root, 'fake-ca.pem');
    writeFileSync(caFile, fake.caPem);
    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const bottleEnv = { ...base, BOT_BOTTLE_HOME: home, BOT_BOTTLE_BACKEND: 'bwrap', BOT_BOTTLE_RESOLVE: fake.resolve, BOT_BOTTLE_UPSTREAM_CA: caFile, BENCH_CLAUDE_TOKEN: 'bench-token', BOT_BOTTLE_TRACE: '1', ...(process.env.BOT_BOTTLE_STANDBY === '0' ? { BOT_BOTTLE_STANDBY: '0' } : {}) };

    // The bare run gets what the bottle provisions: same arguments, settings file, config folder, env.
    const bare = join(root, 'bare');
    const workspace = join(bare, 'workspace');
    const config = join(bare, 'home', '.claude');
    mkdirSync(workspace, { recursive: true });
    mkdirSync(config, { recursive: true });
    const plan = resolvePlan(new ManifestCatalog({ home, cwd: root }), {
      agent: 'coder', bottles: [], backend: 'bwrap', backendReason: 'bench', slug: 'bench-bare', cwd: root, copyCwd: false,
      mode: { kind: 'headless', prompt: PROMPT }, home, hostEnv: {},
    });
    const guest = claudeGuest(plan, 'http://127.0.0.1:1/mcp', workspace);
    const state = JSON.parse(guest.files.find((f) => f.path.endsWith('/.claude.json'))?.content ?? '{}') as Record<string, unknown>;
    delete state.mcpServers;
    writeFileSync(join(config, '.claude.json'), JSON.stringify(state));
    const bareMcp = join(root, 'bare-mcp');
    const mcpConfig = join(bareMcp, 'home', '.claude');
    mkdirSync(mcpConfig, { recursive: true });
    writeFileSync(join(bareMcp, 'routes.json'), '[]\n');
    const supervise = await startSupervise({ listen: { host: '127.0.0.1', port: 0 }, queueDir: join(bareMcp, 'queue'), routesFile: join(bareMcp, 'routes.json') }, { bottle: 'bench-bare-mcp', log: () => undefined });
    closers.push(() => supervise.close());
    const registered = JSON.parse(guest.files.find((f) => f.path.endsWith('/.claude.json'))?.content ?? '{}') as { mcpServers?: Record<string, { url: string }> };
    for (const server of Object.values(registered.mcpServers ?? {})) server.url = supervise.url;
    writeFileSync(join(mcpConfig, '.claude.json'), JSON.stringify(registered));
    const settings = join(bare, 'settings.json');
    writeFileSync(settings, guest.files.find((f) => f.path.endsWith('claude-settings.json'))?.content ?? '{}');
    const bareArgs = [...guest.args.map((a) => (a.endsWith('claude-settings.json') ? settings : a)), ...plan.provider.command.slice(1)];
    const bareEnv = {
      ...base,
      ...CLAUDE_ENV,
      HOME: join(bare, 'home'),
      CLAUDE_CONFIG_DIR: config,
      HTTPS_PROXY: fake.proxyUrl,
      HTTP_PROXY: fake.proxyUrl,
      NODE_EXTRA_CA_CERTS: caFile,
      CLAUDE_CODE_OAUTH_TOKEN: 'bench-token',
      // Inside the bottle Claude runs as uid 1000; bare as root it refuses bypassPermissions without this.
      ...(process.getuid?.() === 0 ? { IS_SANDBOX: '1' } : {}),
    };

    const times = (): ClaudeStartTimes => ({ first: [], firstRequest: [], messages: [], ready: [], released: [], standby: 0 });
    const result: ClaudeStartResult = { bottle: times(), bare: times(), bareMcp: times(), ...(compareCli ? { compare: times() } : {}) };
    const bareMcpEnv = { ...bareEnv, HOME: join(bareMcp, 'home'), CLAUDE_CONFIG_DIR: mcpConfig };
    const traced = (stderr: string, phase: string): number[] => {
      const at = new RegExp(`\\[bot-bottle trace ([\\d.]+) ms\\] ${phase}`).exec(stderr)?.[1];
      return at === undefined ? [] : [Number(at)];
    };
    const measure = async (into: ClaudeStartTimes | undefined, file: string, args: string[], env: Record<string, string>, cwd: string): Promise<void> => {
      const seen = fake.requests.length;
      const { first, stderr } = await firstOutput(file, args, env, cwd);
      const requests = fake.requests.slice(seen);
      // A bottle's end starts the next launch's standby bundle: let it finish loading before anything else is
      // timed, so its start-up CPU lands on no measured run (bare or bottle).
      if (file !== 'claude') await standbyListening(home, stderr);
      // BENCH_DUMP=1: every run's trace lines and the fake API's request times, to see where a bottle's time goes.
      if (process.env.BENCH_DUMP === '1' && file !== 'claude') console.error(bundleLog(home, started));
      if (process.env.BENCH_DUMP === '1') console.error(`--- ${file === 'claude' ? 'bare' : 'bottle'}\n${stderr.split('\n').filter((l) => l.includes('trace')).join('\n')}\n${requests.map((r) => `${(r.at - started).toFixed(0)} ms ${r.method ?? ''} ${r.path}`).join('\n')}`);
      if (!into) return;
      into.first.push(first);
      into.ready.push(...traced(stderr, 'sidecars ready'));
      into.released.push(...traced(stderr, 'agent started'));
      if (stderr.includes('standby sidecar bundle claimed')) into.standby++;
      into.firstRequest.push((requests[0]?.at ?? NaN) - started);
      into.messages.push((requests.find((r) => r.path.startsWith('/v1/messages'))?.at ?? NaN) - started);
    };
    const bottleArgs = [cli, 'start', 'coder', '--headless', '--prompt', PROMPT];
    // Alternate, after one warm-up of each, so both see the same page cache and machine load.
    await measure(undefined, process.execPath, bottleArgs, bottleEnv, root);
    await measure(undefined, 'claude', bareArgs, bareEnv, workspace);
    for (let i = 0; i < runs; i++) {
      await measure(result.bottle, process.execPath, bottleArgs, bottleEnv, root);
      await measure(result.bare, 'claude', bareArgs, bareEnv, workspace);
      await measure(result.bareMcp, 'claude', bareArgs, bareMcpEnv, workspace);
      // BENCH_COMPARE_CLI=cold: this build with BOT_BOTTLE_STANDBY=0, every launch starting its own bundle.
      if (compareCli === 'cold') await measure(result.compare, process.execPath, bottleArgs, { ...bottleEnv, BOT_BOTTLE_STANDBY: '0' }, root);
      else if (compareCli) await measure(result.compare, process.execPath, [compareCli, ...bottleArgs.slice(1)], bottleEnv, root);
    }
    if (fake.refusedConnects.length > 0) throw new Error(`bare claude tried to reach ${fake.refusedConnects.join(', ')}`);
    return result;
  } finally {
    await stopStandbys(join(root, 'claude-home'));
    for (const close of closers) await close();
    await fake.close();
  }
}

import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeUpstreamPki } from '../egress/support.js';
import { agentAudit } from '../support/audit.js';
import { runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { startFakeSite, type FakeSite } from './fake-site.js';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import { dockerBottleEnv, startDockerUpstream, type DockerUpstream } from '../support/docker-upstream.js';
import { inputTexts, lastUserText, startFakeOpenAi, toolOutputs, type FakeOpenAi, type ModelScript, type ResponsesCall } from './fake-openai.js';

/** The version CI installs (scripts/install-agents.sh); the tests are written against it. */
export const CODEX_VERSION = '0.171.0';
/** A model that gets Codex's standard tool list (exec_command, MCP namespaces) in the request body. */
export const CODEX_TEST_MODEL = 'gpt-5.3-codex';

/**
 * What the Codex end-to-end tests need: bwrap, socat, the real Codex on PATH,
 * and port 443 on a loopback address for the fake API (Codex always talks to
 * api.openai.com:443; BOT_BOTTLE_RESOLVE maps only the address). Locally a
 * missing piece skips with the reason; in CI it fails.
 */
export function codexPrereqMissing(): string | undefined {
  return missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? missingTool('codex', ['--version'], 'scripts/install-agents.sh') ?? lowPortMissing();
}

function lowPortMissing(): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  if (start <= 443) return undefined;
  const reason = 'the fake OpenAI API listens on port 443 of a loopback address, which needs root here';
  if (process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${reason}`);
  return reason;
}

/** The installed Codex package folder (…/node_modules/@openai/codex), from the `codex` on PATH. */
export function codexPackageRoot(): string {
  const bin = execFileSync('sh', ['-c', 'command -v codex'], { encoding: 'utf8' }).trim();
  let dir = dirname(realpathSync(bin));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

export interface CodexWorld {
  h: TempHome;
  fake: FakeOpenAi;
  /** The HTTPS site egress reaches for `opts.sites` (when any were asked for). */
  site: FakeSite | undefined;
  /** The real API key: egress must put it on the wire, nothing in the bottle may hold it. */
  key: string;
  env: Record<string, string>;
  /** The built CLI as the operator runs it, in the world's home and repo. */
  cli(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<BottleRun>;
  /** Slugs of the bottles started so far, oldest first. */
  slugs(): string[];
  stateDir(slug: string): string;
  /** The bottle's egress audit, without the launch's own containment probe (an unrouted `bb-containment-*.invalid`). */
  audit(slug: string): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * A temp home with a codex bottle (`auth_token` from a host variable) and a
 * `coder` agent, and a fake OpenAI API that egress reaches for
 * api.openai.com, trusting its CA: on loopback for bwrap; with `docker`,
 * behind a relay container on the network the bundle's outside leg joins.
 */
export async function codexWorld(script: ModelScript, opts: { sites?: string[]; docker?: DockerRuntime } = {}): Promise<CodexWorld> {
  const h = tempHome();
  const sites = opts.sites ?? [];
  const pki = await makeUpstreamPki(['api.openai.com', ...sites]);
  const site = sites.length > 0 ? await startFakeSite(pki, sites) : undefined;
  const caFile = h.write('upstream-ca.pem', pki.caPem);
  let fake: FakeOpenAi | undefined;
  let address = '';
  let up: DockerUpstream | undefined;
  let backendEnv: Record<string, string> = { BOT_BOTTLE_BACKEND: 'bwrap' };
  if (opts.docker !== undefined) {
    up = await startDockerUpstream();
    fake = await startFakeOpenAi(pki, script, { host: up.hostAddress });
    address = await up.relay(fake.port);
    backendEnv = dockerBottleEnv(up, opts.docker);
  }
  for (let attempt = 0; fake === undefined; attempt++) {
    // A loopback address of its own: test files run in parallel, and each fake needs port 443.
    address = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    try {
      fake = await startFakeOpenAi(pki, script, { host: address, port: 443 });
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
  const key = `bb-test-openai-key-${randomBytes(16).toString('hex')}`;
  h.writeBottle('cx', 'agent_provider: {template: codex, auth_token: BB_TEST_OPENAI_KEY}');
  h.writeAgent('coder', `bottle: cx\nmodel: ${CODEX_TEST_MODEL}`, 'You work in /workspace.');
  const env = {
    BOT_BOTTLE_HOME: h.home,
    ...backendEnv,
    BOT_BOTTLE_RESOLVE: [`api.openai.com:443:${address}`, ...(site?.resolve ?? [])].join(','),
    BOT_BOTTLE_UPSTREAM_CA: caFile,
    BB_TEST_OPENAI_KEY: key,
    BOT_BOTTLE_STANDBY: '0',
  };
  const stateRoot = join(h.home, 'state');
  const started = (slug: string): string => (JSON.parse(readFileSync(join(stateRoot, slug, 'metadata.json'), 'utf8')) as { started_at: string }).started_at;
  const world: CodexWorld = {
    h,
    fake,
    site,
    key,
    env,
    cli: (args, opts = {}) => runBottleCli(args, { cwd: h.cwd, env: { ...env, ...opts.env }, timeoutMs: opts.timeoutMs ?? 90_000 }),
    slugs: () => (existsSync(stateRoot) ? readdirSync(stateRoot).filter((s) => existsSync(join(stateRoot, s, 'metadata.json'))).sort((a, b) => started(a).localeCompare(started(b))) : []),
    stateDir: (slug) => join(stateRoot, slug),
    audit: (slug) => agentAudit(join(stateRoot, slug, 'egress-audit.jsonl')),
    close: async () => {
      await fake.close();
      await site?.close();
      await up?.close();
      h.cleanup();
    },
  };
  return world;
}

/** Every file under `dir` whose bytes contain `needle` (binary files included: sqlite, logs). */
export function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  const bytes = Buffer.from(needle);
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (readFileSync(path).includes(bytes)) out.push(path);
  }
  return out;
}

/**
 * The scripted model of the headless Codex tests, by prompt: `make hello` writes a file with a shell
 * command (showing its environment and credentials file), asks supervise's egress_block, then reports
 * the operator's answer; `what did I ask first` answers from the earlier turns; `where is codex` shows
 * which binary runs; `which rg` runs Codex's ripgrep; anything else is echoed.
 */
export const codexScript: ModelScript = (call) => {
  const prompt = lastUserText(call.input);
  const outputs = [...toolOutputs(call.input).values()];
  if (prompt.startsWith('make hello')) {
    if (outputs.length === 0) {
      return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: "printf 'written by codex\\n' > /workspace/hello.txt && env | sort && cat ~/.codex/auth.json" } }];
    }
    if (outputs.length === 1) {
      return [{ type: 'function_call', namespace: 'mcp__supervise', name: 'egress_block', arguments: { host: 'docs.example.org', reason: 'the task needs its documentation' } }];
    }
    return [{ type: 'message', text: `HELLO-DONE operator said: ${/"status":\s*"(\w+)"/.exec(outputs[1] ?? '')?.[1] ?? 'nothing'}` }];
  }
  if (prompt.startsWith('what did I ask first')) {
    const earlier = inputTexts(call.input).some((t) => t.startsWith('make hello'));
    return [{ type: 'message', text: earlier ? 'RESUMED: first you asked me to make hello' : 'RESUMED-WITHOUT-HISTORY' }];
  }
  if (prompt.startsWith('where is codex')) {
    if (outputs.length === 0) {
      // Which codex binary is running (the launcher execs the native one from the platform package).
      return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: 'for p in /proc/[0-9]*; do readlink "$p/exe"; done | grep /codex$ | sort -u; touch /opt/bot-bottle/lib/node_modules/@openai/codex/x 2>&1; echo "touch-rc=$?"' } }];
    }
    return [{ type: 'message', text: `WHERE ${outputs[0]?.replace(/\s+/g, ' ') ?? ''}` }];
  }
  if (prompt.startsWith('which rg')) {
    // Codex's bundled ripgrep, which its agent is told to search with, on the agent's PATH.
    // Also through a login shell, whose /etc/profile resets PATH (Codex may run commands that way).
    if (outputs.length === 0) return [{ type: 'function_call', name: 'exec_command', arguments: { cmd: "rg --version | head -n 1; bash -lc 'echo login; rg --version | head -n 1'" } }];
    return [{ type: 'message', text: `RG ${outputs[0]?.replace(/\s+/g, ' ') ?? ''}` }];
  }
  return [{ type: 'message', text: `ECHO ${prompt}` }];
};

/** Calls of one turn: those whose prompt (the last user message) starts with `prefix`. */
export const codexTurn = (w: CodexWorld, prefix: string): ResponsesCall[] => w.fake.calls.filter((c) => !c.prewarm && lastUserText(c.input).startsWith(prefix));

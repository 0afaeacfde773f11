import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { runBottleCli, type BottleRun } from '../support/bottle-run.js';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';
import { makeUpstreamPki } from '../egress/support.js';
import type { DockerRuntime } from '../../src/backends/docker/runtime.js';
import { dockerBottleEnv, startDockerUpstream } from '../support/docker-upstream.js';
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic.js';
import { startFakeSite, type FakeSite } from './fake-site.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/**
 * What the real-Claude tests need: Claude Code installed the way users do
 * (scripts/install-agents.sh), a bwrap bottle, and root to bind the fake API
 * on port 443 (where egress sends api.anthropic.com). Missing locally: a skip
 * with the reason; in CI: a failure.
 */
export function claudeMissing(extra: Array<() => string | undefined> = []): string | undefined {
  const checks = [
    () => missingTool('claude', ['--version']),
    () => missingTool('bwrap'),
    () => missingTool('socat', ['-V']),
    ...extra,
    () => {
      if (process.getuid?.() === 0) return undefined;
      const reason = 'the fake Anthropic API must listen on port 443, which needs root';
      if (process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${reason}`);
      return reason;
    },
  ];
  for (const check of checks) {
    const reason = check();
    if (reason) return reason;
  }
  return undefined;
}

/** The placeholder the agent holds instead of its credential (egress swaps in the real one). */
export const CLAUDE_PLACEHOLDER = 'bot-bottle-placeholder-egress-injects-the-real-token';

/**
 * The scripted session every headless Claude test runs: Bash (as which
 * user), Write, a supervise tool, then Claude's own environment and the
 * sandbox's first process's (Claude keeps its credential out of its tools'
 * environment, so the test reads both). Results come back as `RESULT n:`.
 */
export const CLAUDE_TOOL_STEPS = [
  'bash: echo from-bash > /workspace/bash.txt && id -u',
  'write: /workspace/written.txt written by the Write tool',
  'mcp: mcp__supervise__list-egress-routes {}',
  "bash: cat /proc/$CLAUDE_PID/environ /proc/1/environ | tr '\\0' '\\n'",
] as const;

export interface ClaudeRig {
  h: TempHome;
  fake: FakeAnthropic;
  /** The HTTPS site egress reaches for `opts.sites` (when any were asked for). */
  site: FakeSite | undefined;
  /** The real credential: only egress and the fake upstream may ever see it. */
  token: string;
  env: Record<string, string>;
  cli(args: string[], timeoutMs?: number): Promise<BottleRun>;
  /** The one bottle's slug (tests start one bottle per rig). */
  slug(): string;
  workspace(file: string): string;
  /** Every file under the bottle's state folder, as text (to prove no token was kept). */
  stateText(): string;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Host names of a fake HTTPS site (fake-site.ts) egress can reach once they are routed (bwrap only). */
  sites?: string[];
  /** How long the fake API keeps an idle connection open, or waits for a request to arrive whole. */
  idleTimeoutMs?: number;
  /** Run the bottle on docker with this runtime; the fake API sits behind a relay container on the network the bundle's outside leg joins. */
  docker?: DockerRuntime;
}

/** A home with a `claude` bottle (as given) and an agent `coder` using it, and a fake API egress reaches (on loopback for bwrap). */
export async function claudeRig(bottle: string, agent = '', opts: RigOptions = {}): Promise<ClaudeRig> {
  const h = tempHome();
  const sites = opts.sites ?? [];
  const pki = await makeUpstreamPki(['api.anthropic.com', ...sites]);
  const fakeOpts = { pki, ...(opts.idleTimeoutMs !== undefined ? { idleTimeoutMs: opts.idleTimeoutMs } : {}) };
  const up = opts.docker === undefined ? undefined : await startDockerUpstream();
  let fake: FakeAnthropic;
  let resolve: string;
  let backendEnv: Record<string, string> = { BOT_BOTTLE_BACKEND: 'bwrap' };
  if (up === undefined || opts.docker === undefined) {
    fake = await startFakeAnthropic(fakeOpts);
    resolve = fake.resolve;
  } else {
    fake = await startFakeAnthropic({ ...fakeOpts, host: up.hostAddress });
    resolve = `api.anthropic.com:443:${await up.relay(fake.port)}`;
    backendEnv = dockerBottleEnv(up, opts.docker);
  }
  const site = sites.length > 0 ? await startFakeSite(pki, sites) : undefined;
  const caFile = h.write('upstream-ca.pem', fake.caPem);
  const token = `sk-ant-oat01-${randomBytes(24).toString('base64url')}`;
  h.writeBottle('claude', bottle);
  h.writeAgent('coder', `bottle: claude\n${agent}`, 'You are a careful coder.');
  const env = {
    BOT_BOTTLE_HOME: h.home,
    ...backendEnv,
    BOT_BOTTLE_RESOLVE: [resolve, ...(site?.resolve ?? [])].join(','),
    // The model API resolves to the fake above, so egress may connect ahead to it as it would for a user.
    BOT_BOTTLE_PRECONNECT: '1',
    // Each launch starts its own bundle, so a test reads only its own bundle's log (launch/standby.ts).
    BOT_BOTTLE_STANDBY: '0',
    BOT_BOTTLE_UPSTREAM_CA: caFile,
    BOT_BOTTLE_CLAUDE_OAUTH_TOKEN: token,
    BOT_BOTTLE_ANTHROPIC_API_KEY: token,
  };
  const slug = (): string => {
    const slugs = readdirSync(join(h.home, 'state'));
    if (slugs.length !== 1) throw new Error(`expected one bottle, found ${slugs.join(', ')}`);
    return slugs[0] ?? '';
  };
  return {
    h,
    fake,
    site,
    token,
    env,
    cli: (args, timeoutMs = 120_000) => runBottleCli(args, { cwd: h.cwd, env, timeoutMs }),
    slug,
    workspace: (file) => readFileSync(join(h.home, 'state', slug(), 'workspace', file), 'utf8'),
    stateText: () => collectText(join(h.home, 'state')),
    close: async () => {
      await fake.close();
      await site?.close();
      await up?.close();
      h.cleanup();
    },
  };
}

function collectText(dir: string): string {
  let out = '';
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile() && statSync(full).size < 16 * 1024 * 1024) out += readFileSync(full, 'latin1');
  }
  return out;
}

/** The CLI on a real terminal: a tmux session with the rig's environment, kept after the CLI exits so its last lines can be read. */
export class TmuxCli {
  readonly session = `bb-claude-${process.pid}-${randomBytes(3).toString('hex')}`;
  /** A tmux server of its own: the machine's default one is shared with whatever else runs tmux. */
  private readonly socket: string;

  constructor(private readonly rig: ClaudeRig) {
    this.socket = join(rig.h.root, `${this.session}.sock`);
  }

  private tmux(args: string[], opts: { reject?: boolean } = {}) {
    return execa('tmux', ['-S', this.socket, ...args], opts);
  }

  async start(args: string[]): Promise<void> {
    const env = Object.entries({ ...this.rig.env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color' }).map(([k, v]) => `${k}=${v}`);
    // A shell waits for the CLI and prints its exit code; tmux itself was seen not to reap an exited
    // pane process under load (a zombie, so the pane never reads as dead). Like a person's shell, it
    // outlives a Ctrl-C typed at the CLI (`trap`: a handler, which the CLI does not inherit).
    const script = 'trap : INT; "$@"; echo "EXIT=$?"; trap "" INT; exec sleep 600';
    await this.tmux(['new-session', '-d', '-s', this.session, '-x', '160', '-y', '50', '-c', this.rig.h.cwd, 'sh', '-c', script, 'sh', 'env', '-i', ...env, process.execPath, CLI, ...args]);
  }

  async screen(): Promise<string> {
    return (await this.tmux(['capture-pane', '-p', '-S', '-200', '-t', this.session])).stdout;
  }

  /** Polls the pane (bounded) until `pattern` shows up. */
  async waitFor(pattern: string | RegExp | ((screen: string) => boolean), limitMs = 60_000): Promise<string> {
    const until = Date.now() + limitMs;
    let screen = '';
    const matches = (text: string): boolean => (typeof pattern === 'string' ? text.includes(pattern) : pattern instanceof RegExp ? pattern.test(text) : pattern(text));
    while (Date.now() < until) {
      screen = await this.screen();
      if (matches(screen)) return screen;
      // The CLI may have exited between the two captures: judge the pane it exited with, not the one before.
      const last = await this.screen();
      if (matches(last)) return last;
      if (/^EXIT=\d+$/m.test(last)) {
        screen = last;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${String(pattern)} did not appear; screen:\n${screen}`);
  }

  /** The pid of the pane's first process (the shell that runs the CLI). */
  async panePid(): Promise<number> {
    return Number((await this.tmux(['display-message', '-p', '-t', this.session, '#{pane_pid}'])).stdout.trim());
  }

  async keys(...keys: string[]): Promise<void> {
    await this.tmux(['send-keys', '-t', this.session, ...keys]);
  }

  async type(text: string): Promise<void> {
    await this.tmux(['send-keys', '-t', this.session, '-l', text]);
  }

  /**
   * Types a line into a TUI and submits it. Keys that arrive together read as
   * a paste, where Enter is a newline: wait until the text shows, then a beat.
   */
  async submit(text: string): Promise<void> {
    await this.type(text);
    // The prompt box is the last line starting with ❯ (earlier ones are history, which may hold the same text).
    const head = text.slice(0, 40);
    await this.waitFor((screen) => screen.split('\n').filter((l) => l.startsWith('❯')).at(-1)?.includes(head) === true);
    await new Promise((r) => setTimeout(r, 500));
    await this.keys('Enter');
  }

  /** Waits until the CLI has exited and returns the whole pane, which ends with `EXIT=<code>`. */
  async exited(limitMs = 60_000): Promise<string> {
    return this.waitFor(/^EXIT=\d+$/m, limitMs);
  }

  async kill(): Promise<void> {
    await this.tmux(['kill-session', '-t', this.session], { reject: false });
  }
}

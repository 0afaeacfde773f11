import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath } from '../../src/backends/probe.js';
import { CHECKS } from '../../src/containment/checks.js';
import { hostResolvedName } from '../../src/containment/host-name.js';
import { STAGE_ROOT } from '../../src/backends/bwrap/root-staging.js';
import { runBottleCli } from '../support/bottle-run.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * The containment self-test at launch, on the bwrap backend: a sealed bottle
 * passes and `info` shows it; a deliberately leaky sandboxing tool (a `bwrap`
 * earlier on PATH that keeps the host network, as a broken or replaced tool
 * would) is refused, with the failed checks named and nothing left behind;
 * the opt-out flag is loud, recorded, and really does let that leak through.
 */
const missing = missingTool('bwrap') ?? missingTool('socat', ['-V']);
// The name the DNS check will use; a host whose /etc/hosts names nothing but localhost cannot show that leak.
const hostName = await hostResolvedName([]);

/**
 * A `bwrap` for PATH that silently adds `extra` after every option the launcher passes (bwrap applies
 * options in order, so they win over what the launcher asked for): a broken or replaced tool.
 */
function brokenBwrap(extra: string[]): string {
  const real = findOnPath('bwrap', process.env.PATH);
  if (!real) throw new Error('bwrap is not on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'bb-broken-bwrap-'));
  chmodSync(dir, 0o755); // as root the sandbox runs as uid 65534, which must reach the wrapper
  writeFileSync(
    join(dir, 'bwrap'),
    `#!/bin/sh
n=$#; seen=
for a in "$@"; do
  if [ "$a" = "--" ] && [ -z "$seen" ]; then set -- "$@" ${extra.join(' ')}; seen=1; fi
  set -- "$@" "$a"
done
shift "$n"
exec ${real} "$@"
`,
  );
  chmodSync(join(dir, 'bwrap'), 0o755);
  return dir;
}

interface StoredRecord {
  result: string;
  reason?: string;
  checks: Array<{ id: string; status: string; detail: string }>;
}

function record(h: TempHome, slug: string): StoredRecord {
  return JSON.parse(readFileSync(join(h.home, 'state', slug, 'containment.json'), 'utf8')) as StoredRecord;
}

/** Command lines of every host process whose command line or environment mentions `needle`. */
function processesWith(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      } catch {
        // Not ours to read (tests run as root in CI, where every environment is readable).
      }
      if (cmd.includes(needle) || environ.includes(needle)) out.push(cmd);
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

describe.skipIf(missing)('containment self-test at launch (bwrap)', () => {
  let h: TempHome;
  let leakyDir: string;
  let hostsDir: string;
  let hostService: Server;
  let hostPort: number;
  let env: Record<string, string>;
  // In every sandbox process's environment, so leftovers of this file's bottles can be told from other tests'.
  const marker = `bb-selftest-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    h = tempHome();
    h.writeBottle('b', `agent_provider: {template: shell}\nenv: {BB_TEST_MARKER: ${marker}}\negress:\n  routes:\n    - host: api.example.test`);
    h.writeAgent('a', 'bottle: b');
    leakyDir = brokenBwrap(['--share-net']);
    hostsDir = brokenBwrap(['--ro-bind', '/etc/hosts', '/etc/hosts']);
    // A service on the host's loopback the agent must never reach.
    hostService = createServer((s) => s.end('host-secret-service\n'));
    await new Promise<void>((r) => hostService.listen(0, '127.0.0.1', r));
    hostPort = (hostService.address() as { port: number }).port;
    env = { BOT_BOTTLE_HOME: h.home, BOT_BOTTLE_BACKEND: 'bwrap' };
  });

  afterAll(async () => {
    await new Promise<void>((r) => hostService.close(() => r()));
    for (const dir of [leakyDir, hostsDir]) rmSync(dir, { recursive: true, force: true });
    h.cleanup();
  });

  it('passes a sealed bottle before the agent starts, and info shows the result', async () => {
    const run = await runBottleCli(['start', 'a', '--headless', '--label', 'sealed', '--prompt', 'echo agent-ran'], { cwd: h.cwd, env });
    expect(run.stderr).not.toContain('unexpected error');
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('agent-ran');
    const r = record(h, 'sealed');
    expect(r.result).toBe('passed');
    expect(r.checks.map((c) => c.id)).toEqual(Object.keys(CHECKS));
    expect(r.checks.filter((c) => c.status === 'failed')).toEqual([]);
    for (const id of ['host-loopback', 'endpoints', 'proxy', 'ca-trust', 'secrets', 'processes', 'privileges']) {
      expect(r.checks.find((c) => c.id === id)?.status, id).toBe('passed');
    }
    const info = await cli(h, ['info', 'a']);
    expect(info.stdout).toMatch(/containment check: sealed passed at \S+: \d+ checks in \d+ ms/);
  });

  it('shows in the preflight that it will run', async () => {
    const plan = await cli(h, ['start', 'a', '--dry-run', '--backend', 'bwrap']);
    expect(plan.stdout).toContain('containment: self-test from inside before the agent starts');
  });

  it('refuses a bottle whose sandboxing tool keeps the host network, names the failed checks and leaves nothing behind', async () => {
    const run = await runBottleCli(['start', 'a', '--headless', '--label', 'leaky', '--prompt', `touch /workspace/agent-ran; echo agent-ran`], {
      cwd: h.cwd,
      env: { ...env, PATH: `${leakyDir}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain('containment check failed; the agent was not started and the bottle was torn down');
    expect(run.stderr).toMatch(/host-loopback FAILED: .*connected/);
    expect(run.stderr).toMatch(/endpoints FAILED: network interfaces besides lo/);
    expect(run.stderr).not.toContain('unexpected error');
    // The agent never ran.
    expect(run.stdout).not.toContain('agent-ran');
    expect(existsSync(join(h.home, 'state', 'leaky', 'workspace', 'agent-ran'))).toBe(false);
    // Nothing left behind: no run folder (sockets, pids), no staging folder, no process.
    expect(existsSync(join(h.home, 'state', 'leaky', 'run'))).toBe(false);
    if (existsSync(STAGE_ROOT)) expect(readdirSync(STAGE_ROOT).filter((d) => d.startsWith('leaky-'))).toEqual([]);
    expect(processesWith(join(h.home, 'state', 'leaky'))).toEqual([]);
    expect(processesWith(marker)).toEqual([]);
    // State stays consistent where it is kept: the refusal is recorded and `info` shows it.
    if (existsSync(join(h.home, 'state', 'leaky'))) {
      const r = record(h, 'leaky');
      expect(r.result).toBe('failed');
      expect(r.checks.find((c) => c.id === 'host-loopback')?.status).toBe('failed');
      const info = await cli(h, ['info', 'a']);
      expect(info.stdout).toMatch(/containment check: leaky FAILED at \S+: host-loopback: /);
      const list = await cli(h, ['list', 'active']);
      expect(list.stdout).not.toMatch(/leaky.*running/);
    }
  });

  it.skipIf(hostName === undefined)("refuses a bottle that sees the host's /etc/hosts (a name the host resolves resolves inside)", async () => {
    const run = await runBottleCli(['start', 'a', '--headless', '--label', 'hosts', '--prompt', 'touch /workspace/agent-ran'], {
      cwd: h.cwd,
      env: { ...env, PATH: `${hostsDir}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain(`dns FAILED: ${hostName ?? '?'} (which the host resolves) resolves inside`);
    // The network was sealed: only the check for this leak failed.
    expect(run.stderr).not.toMatch(/host-loopback FAILED|endpoints FAILED/);
    expect(existsSync(join(h.home, 'state', 'hosts', 'workspace', 'agent-ran'))).toBe(false);
    expect(existsSync(join(h.home, 'state', 'hosts', 'run'))).toBe(false);
    expect(processesWith(marker)).toEqual([]);
  });

  it('--no-containment-check warns every time, is recorded, and really lets such a leak through', async () => {
    const dry = await cli(h, ['start', 'a', '--dry-run', '--backend', 'bwrap', '--no-containment-check']);
    expect(dry.stdout).toContain('containment: NOT CHECKED (--no-containment-check)');
    const run = await runBottleCli(
      ['start', 'a', '--headless', '--label', 'unchecked', '--no-containment-check', '--prompt', `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${hostPort} && head -1 <&3'`],
      { cwd: h.cwd, env: { ...env, PATH: `${leakyDir}:${process.env.PATH ?? '/usr/bin:/bin'}` } },
    );
    expect(run.stderr).toContain("bot-bottle: WARNING: --no-containment-check: this bottle's isolation is NOT verified before the agent starts");
    // Without the check, the broken tool's leak reaches the host: exactly what the self-test refuses.
    expect(run.stdout).toContain('host-secret-service');
    expect(record(h, 'unchecked')).toMatchObject({ result: 'skipped', reason: '--no-containment-check' });
    const info = await cli(h, ['info', 'a']);
    expect(info.stdout).toMatch(/containment check: unchecked SKIPPED at \S+: --no-containment-check/);
  });
});

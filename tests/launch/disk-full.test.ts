import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempHome, type TempHome } from '../support/home.js';
import { missingTool } from '../support/prereq.js';

/**
 * A start on a full disk, on a real file system: a tiny tmpfs mounted in a
 * private mount namespace (`unshare -m`, so the host never sees it) holds
 * $BOT_BOTTLE_HOME. A failed start must say what happened and what to do in
 * one line, exit non-zero, and leave nothing of what it created.
 */
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
const notRoot = process.getuid?.() === 0 ? undefined : 'needs root to mount a tmpfs in a private mount namespace';
if (notRoot && process.env.CI === 'true') throw new Error(`CI prerequisite missing: ${notRoot}`);
const missing = notRoot ?? missingTool('bwrap') ?? missingTool('socat', ['-V']) ?? missingTool('unshare');

let h: TempHome;
afterEach(() => h?.cleanup());

interface Outcome {
  /** Exit code and stderr of each CLI run, in order. */
  rc: number[];
  stderrs: string[];
  stdout: string;
  /** Each `ls -A` the script asked for, in order. */
  listings: Record<string, string>;
}

/**
 * Run `steps` (shell lines; $M is the tmpfs, $CLI the command) inside a private
 * mount namespace with a tmpfs of `size`. `fill` leaves only that many KiB free.
 */
function onTinyDisk(opts: { size: string; freeKib?: number; steps: string[] }): Outcome {
  const mnt = join(h.root, 'mnt');
  mkdirSync(mnt);
  const script = [
    'set -u',
    `M=${mnt}`,
    `mount -t tmpfs -o size=${opts.size},mode=0755 tmpfs "$M"`,
    'mkdir -p "$M/home/bottles" "$M/home/agents"',
    `printf -- '---\\nagent_provider: {template: shell}\\n---\\n' > "$M/home/bottles/b.md"`,
    `printf -- '---\\nbottle: b\\n---\\n' > "$M/home/agents/a.md"`,
    `CLI="env BOT_BOTTLE_HOME=$M/home BOT_BOTTLE_BACKEND=bwrap BOT_BOTTLE_STANDBY=0 ${process.execPath} ${CLI}"`,
    ...opts.steps,
  ];
  writeFileSync(join(h.root, 'script.sh'), `${script.join('\n')}\n`);
  let stdout: string;
  try {
    stdout = execFileSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', join(h.root, 'script.sh')], {
      cwd: h.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 90_000,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`the disk script failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
  }
  const listings: Record<string, string> = {};
  const rc: number[] = [];
  for (const line of stdout.split('\n')) {
    const list = /^LS (\S+)=(.*)$/.exec(line);
    if (list) listings[list[1] ?? ''] = (list[2] ?? '').trim();
    const code = /^RC=(\d+)$/.exec(line);
    if (code) rc.push(Number(code[1]));
  }
  const stderrs = [...stdout.matchAll(/^STDERR<<([\s\S]*?)>>STDERR$/gm)].map((m) => m[1] ?? '');
  return { rc, stdout, stderrs, listings };
}

/** Shell lines: run the CLI, record its exit code and stderr. */
const run = (args: string, env = ''): string[] => [`${env} $CLI ${args} 2>"$M/../err"; echo "RC=$?"`, 'printf "STDERR<<%s>>STDERR\\n" "$(cat "$M/../err")"'];
const list = (name: string, path: string): string => `echo "LS ${name}=$(ls -A "$M/${path}" 2>/dev/null | tr '\\n' ' ')"`;
/**
 * Sidecar bundles still running from this test's folder: every bundle inherits the CLI's cwd (a pre-spawned
 * one has no bottle path on its command line).
 */
const BUNDLES = 'echo "BUNDLES=$(for p in $(pgrep -f sidecars.js); do readlink /proc/$p/cwd; done | grep -cxF "$PWD")"';
/** Fill the tmpfs until only `kib` KiB are left (a 4 KiB page at a time). */
const fillTo = (kib: number): string => `dd if=/dev/zero of="$M/fill" bs=4k count=$(( ($(df -k --output=avail "$M" | tail -1) - ${kib}) / 4 )) 2>/dev/null`;

function expectCleanFailure(o: Outcome, index = 0): string {
  const stderr = o.stderrs[index] ?? '';
  expect(o.rc[index], o.stdout).not.toBe(0);
  expect(stderr).toMatch(/bot-bottle: cannot start \S+: the file system holding \S+ is full \(ENOSPC\)/);
  expect(stderr).toContain('bot-bottle cleanup --state');
  expect(stderr).not.toContain('unexpected error');
  expect(stderr).not.toMatch(/\n\s+at /);
  return stderr;
}

describe.skipIf(missing)('a start on a full disk', () => {
  it('fails cleanly when the workspace copy does not fit, leaving no state and no queue', () => {
    h = tempHome();
    writeFileSync(join(h.cwd, 'big.bin'), Buffer.alloc(2 * 1024 * 1024, 7));
    const o = onTinyDisk({ size: '1m', steps: [...run("start a --cwd --headless --prompt 'echo ran'"), list('state', 'home/state'), list('queue', 'home/queue')] });
    expect(expectCleanFailure(o)).toMatch(/holding \S*\/home\/state\/a-[0-9a-f]+\/workspace\/big\.bin is full/);
    expect(o.stdout).not.toContain('ran');
    expect(o.listings).toEqual({ state: '', queue: '' });
  });

  it('fails cleanly when not even the metadata fits', () => {
    h = tempHome();
    const o = onTinyDisk({ size: '256k', steps: [fillTo(0), ...run("start a --headless --prompt 'echo ran'"), list('state', 'home/state')] });
    expectCleanFailure(o);
    expect(o.listings.state).toBe('');
  });

  it("fails cleanly when egress's audit reserve does not fit, stopping the bundle and removing everything", () => {
    h = tempHome();
    const o = onTinyDisk({ size: '4m', steps: [fillTo(1024), ...run("start a --headless --prompt 'echo ran'"), list('state', 'home/state'), BUNDLES] });
    expectCleanFailure(o);
    expect(o.stdout).not.toContain('ran');
    expect(o.listings.state).toBe('');
    expect(o.stdout).toContain('BUNDLES=0');
  });

  it('fails cleanly after the sidecars started (the run files do not fit), stopping them and removing everything', () => {
    h = tempHome();
    // Room for the state, the sidecar config and egress's 2 MiB audit reserve, not for the CA bundle (~220 kB of host roots).
    const o = onTinyDisk({ size: '4m', steps: [fillTo(2048 + 120), ...run("start a --headless --prompt 'echo ran'", 'BOT_BOTTLE_TRACE=1'), list('state', 'home/state'), list('queue', 'home/queue'), BUNDLES] });
    expect(expectCleanFailure(o)).toContain('sidecars ready');
    expect(o.listings).toEqual({ state: '', queue: '' });
    expect(o.stdout).toContain('BUNDLES=0');
  });

  it('keeps a resumed bottle\'s workspace when the disk filled up since its last run', () => {
    h = tempHome();
    const o = onTinyDisk({
      size: '4m',
      steps: [
        ...run("start a --label keep --headless --prompt 'echo precious > /workspace/work'"),
        fillTo(0),
        ...run("resume keep --headless --prompt 'echo ran'"),
        'echo "WORK=$(cat "$M/home/state/keep/workspace/work")"',
        list('state', 'home/state/keep'),
      ],
    });
    expect(o.rc[0], o.stdout).toBe(0);
    expect(expectCleanFailure(o, 1)).toContain("The bottle's workspace and state are kept");
    expect(o.stdout).toContain('WORK=precious');
    expect(o.listings.state).toContain('metadata.json');
    expect(o.listings.state).toContain('workspace');
  });
});

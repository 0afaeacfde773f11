import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pidsFile, readPids } from '../../src/state/pids.js';
import { bootId, identify, parseProcStat, processState, signalProcess, signallablePid } from '../../src/state/process-identity.js';
import { tempHome, type TempHome } from '../support/home.js';

const children: ChildProcess[] = [];
let h: TempHome | undefined;
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  h?.cleanup();
  h = undefined;
});

function sleeper(file = 'sleep'): ChildProcess {
  const child = spawn(file, ['1000'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

const exited = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

describe('process identity', () => {
  it('reads field 22 after the last ")": a command name with spaces and parentheses cannot shift the fields', () => {
    const fields = (comm: string): string => `4242 (${comm}) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615`;
    for (const comm of ['sleep', 'a b', 'x) R 1 2 (y', ')', '((', 'a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 (b']) {
      expect(parseProcStat(fields(comm)), comm).toEqual({ state: 'S', start: 987654 });
    }
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x) S 1')).toBeUndefined();
  });

  it('a real process named like stat fields gets the start time of its own place in time', () => {
    h = tempHome();
    // The name is the basename of the path exec'd: a symlink to sleep named to look like more fields.
    const dir = join(h.root, 'bin');
    mkdirSync(dir);
    const tricky = join(dir, 'x) Z 1 (9');
    symlinkSync('/bin/sleep', tricky);
    const before = sleeper();
    const odd = sleeper(tricky);
    const after = sleeper();
    // Until the child has exec'd, its name is still node's: wait for it (bounded), as a loaded host may lag.
    const stat = (): string => readFileSync(`/proc/${odd.pid}/stat`, 'utf8');
    for (let i = 0; i < 500 && !stat().includes('(x) Z 1 (9)'); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    const [a, b, c] = [before, odd, after].map((p) => identify(p.pid!));
    expect(stat()).toMatch(new RegExp(`^${odd.pid} \\(x\\) Z 1 \\(9\\) [RS] `));
    expect(b).toBeDefined();
    // Start times never go back: the odd one lies between its neighbours, and is alive (not read as a zombie).
    expect(b!.start).toBeGreaterThanOrEqual(a!.start);
    expect(b!.start).toBeLessThanOrEqual(c!.start);
    expect(processState(b!, bootId())).toBe('alive');
  });

  it('signals only the recorded process: a later start time, another boot or a gone pid is not signalled', async () => {
    const child = sleeper();
    const id = identify(child.pid!)!;
    expect(signalProcess({ ...id, start: id.start + 1 }, bootId(), 'SIGKILL')).toBe('stale');
    expect(signalProcess(id, '00000000-0000-4000-8000-000000000000', 'SIGKILL')).toBe('stale');
    expect(processState(id, bootId())).toBe('alive');
    expect(signalProcess(id, bootId(), 'SIGKILL')).toBe('signalled');
    await exited(child);
    expect(processState(id, bootId())).toBe('gone');
    expect(signalProcess(id, bootId(), 'SIGKILL')).toBe('gone');
  });

  it('never treats 0, 1, negative or out-of-range numbers as pids', () => {
    for (const pid of [-1, 0, 1, 4_194_305, 1.5, Number.NaN]) {
      expect(signallablePid(pid), String(pid)).toBe(false);
      expect(identify(pid)).toBeUndefined();
      expect(signalProcess({ pid, start: 0 }, bootId(), 'SIGTERM')).toBe('gone');
    }
  });

  it('pids files from the state folder are validated: pids > 1, identities, no symlink, no junk', () => {
    h = tempHome();
    const file = pidsFile('b', h.home);
    mkdirSync(join(h.home, 'state', 'b', 'run'), { recursive: true });
    const problem = (text: string): string => {
      writeFileSync(file, text);
      const read = readPids(file);
      return read && 'problem' in read ? read.problem : 'accepted';
    };
    expect(problem('{"boot": "x", "sidecars": 5}')).toMatch(/boot: .*sidecars: /);
    expect(problem(`{"boot": "${bootId()}", "sidecars": {"pid": -1, "start": 0}}`)).toMatch(/sidecars\.pid/);
    expect(problem(`{"boot": "${bootId()}", "sidecars": {"pid": 0, "start": 0}}`)).toMatch(/sidecars\.pid/);
    expect(problem(`{"boot": "${bootId()}", "sidecars": {"pid": 1, "start": 0}}`)).toMatch(/sidecars\.pid/);
    expect(problem(`{"boot": "${bootId()}", "extra": 1}`)).toMatch(/extra/);
    expect(problem(`{"boot": "${bootId()}", "sidecars": {"pid": 77, "start": 5}}`)).toBe('accepted');
    expect(problem(`{"boot": "${bootId()}", "x": "${'a'.repeat(5000)}"}`)).toMatch(/bytes/);
    const target = join(h.root, 'elsewhere.json');
    writeFileSync(target, `{"boot": "${bootId()}"}`);
    const link = join(h.home, 'state', 'b', 'run', 'link.json');
    symlinkSync(target, link);
    expect(readPids(link)).toEqual({ problem: `${link} cannot be read (it is a symlink)` });
    expect(readPids(join(h.root, 'missing.json'))).toBeUndefined();
  });
});

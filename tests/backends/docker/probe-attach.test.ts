import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { AttachedIo } from '../../../src/backends/docker/attach.js';
import { AGENT_EXEC_PREFIX, probeThenHold } from '../../../src/backends/docker/guest.js';
import { dockerProbe, dockerProbeCommand } from '../../../src/backends/docker/probe.js';
import { GUEST_PROBE_SCRIPT } from '../../../src/containment/guest.js';

/**
 * The docker probe runs as the agent container's first process (guest.ts,
 * probeThenHold) and talks over the attachment made before the container
 * started (probe.ts, dockerProbe). The real containers are exercised by the
 * escape suite and the docker bottle tests; here, what that wiring promises.
 */
function fakeAttachment(): { io: AttachedIo; out: PassThrough; err: PassThrough; written: () => string; close: () => void } {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let written = '';
  stdin.on('data', (c: Buffer) => (written += c.toString('utf8')));
  let close = (): void => undefined;
  const closed = new Promise<void>((resolve) => (close = resolve));
  const io: AttachedIo = { stdin, stdout, stderr, closed, exited: closed.then(() => null), kill: () => close() };
  return { io, out: stdout, err: stderr, written: () => written, close };
}

const inside = { caPem: 'PEM', hostProcessMarkers: ['m'], runtime: 'runc' as const };

describe('the probe as the agent container’s first process', () => {
  it('is fed its two spec lines in order through the attachment, even when the first comes last, and answers with its report line', async () => {
    const { io, out, written } = fakeAttachment();
    let release: (line: string) => void = () => undefined;
    // The guest's files still going in when the bundle has its CA: the last line is ready first.
    const probe = dockerProbe(io, new Promise<string>((resolve) => (release = resolve)));
    const report = probe.inside(inside).finish('{"late":2}');
    await new Promise((resolve) => setImmediate(resolve));
    expect(written()).toBe('');
    release('{"early":1}');
    await new Promise((resolve) => setImmediate(resolve));
    out.write('{"version":1}\n');
    await expect(report).resolves.toBe('{"version":1}');
    expect(written()).toBe('{"early":1}\n{"late":2}\n');
  });

  it('fails, and detaches, when its first line never comes (the guest’s files failed to go in)', async () => {
    const { io } = fakeAttachment();
    let detached = false;
    const report = dockerProbe({ ...io, kill: () => (detached = true) }, Promise.reject(new Error('copy failed'))).inside(inside).finish('{}');
    await expect(report).rejects.toThrow('copy failed');
    expect(detached).toBe(true);
  });

  it('fails at once on the line its holder prints when the probe ended without a report', async () => {
    const { io, out } = fakeAttachment();
    const report = dockerProbe(io, '{}').inside(inside).finish('{}');
    await new Promise((resolve) => setImmediate(resolve));
    out.write('probe-exit 1\n');
    await expect(report).rejects.toThrow(/probe-exit 1/);
  });

  it('fails when the container’s attachment ends before a report', async () => {
    const { io, err, close } = fakeAttachment();
    const report = dockerProbe(io, '{}').inside(inside).finish('{}');
    err.write('node: not found\n');
    await new Promise((resolve) => setImmediate(resolve));
    close();
    await expect(report).rejects.toThrow(/exited .*before it reported: node: not found/);
  });

  it('runs the probe under the agent’s seccomp prefix, then holds; a failed probe says so on stdout', async () => {
    const argv = probeThenHold(dockerProbeCommand());
    expect(argv.slice(0, AGENT_EXEC_PREFIX.length)).toEqual([...AGENT_EXEC_PREFIX]);
    expect(argv).toContain(GUEST_PROBE_SCRIPT);
    // The holder's shell part, run here with a probe that fails: its line, then it holds (sleeps) until killed.
    const shell = probeThenHold(['false']).slice(AGENT_EXEC_PREFIX.length);
    const child = spawn(shell[0]!, shell.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    const line = await new Promise<string>((resolve) => child.stdout.once('data', (c: Buffer) => resolve(c.toString('utf8'))));
    expect(line).toBe('probe-exit 1\n');
    expect(child.exitCode).toBeNull();
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  });
});

import { describe, expect, it } from 'vitest';
import { deleteMachine, installCa, runStep, waitReady } from '../../../src/backends/smolmachines/machine.js';
import type { SmolvmResult, SmolvmRun } from '../../../src/backends/smolmachines/smolvm.js';

/** A smolvm that answers from a script of results, recording every call. */
function scripted(results: SmolvmResult[]): { run: SmolvmRun; calls: string[][] } {
  const calls: string[][] = [];
  const run: SmolvmRun = (args) => {
    calls.push([...args]);
    return Promise.resolve(results[Math.min(calls.length - 1, results.length - 1)]!);
  };
  return { run, calls };
}
const ok = (stdout = ''): SmolvmResult => ({ exitCode: 0, stdout, stderr: '' });
const killed: SmolvmResult = { exitCode: 137, stdout: '', stderr: 'client disconnected\n' };
const logs: string[] = [];
const deps = (run: SmolvmRun) => ({ run, log: (m: string) => logs.push(m) });
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUabc=\n-----END CERTIFICATE-----\n';

describe('machine steps (scripted smolvm)', () => {
  it('readiness is a bounded retry of `exec true`: it gives up after exactly the allowed tries', async () => {
    const { run, calls } = scripted([{ exitCode: 1, stdout: '', stderr: "Error: agent operation failed: connect: machine 'm' is not running." }]);
    await expect(waitReady(deps(run), 'm', { attempts: 4, intervalMs: 1 })).rejects.toThrow(/did not run `true` after 4 tries: .*not running/);
    expect(calls).toHaveLength(4);
    expect(calls.every((c) => c.join(' ') === 'machine exec --name m --timeout 10s -- true')).toBe(true);
  });

  it('readiness stops at the first success', async () => {
    const { run, calls } = scripted([killed, killed, ok()]);
    await expect(waitReady(deps(run), 'm', { attempts: 10, intervalMs: 1 })).resolves.toBe(3);
    expect(calls).toHaveLength(3);
  });

  it('a step killed with 137 is retried exactly once', async () => {
    const twice = scripted([killed, ok('fine')]);
    await expect(runStep(deps(twice.run), 'm', 'step', 'echo fine')).resolves.toMatchObject({ stdout: 'fine' });
    expect(twice.calls).toHaveLength(2);
    expect(twice.calls[0]).toEqual(['machine', 'exec', '--name', 'm', '-i', '--', 'sh', '-s']);
    const always = scripted([killed]);
    await expect(runStep(deps(always.run), 'm', 'the step', 'true')).rejects.toThrow(/"the step" failed .*exit 137.*client disconnected/);
    expect(always.calls).toHaveLength(2);
  });

  it('a step that fails otherwise is not retried', async () => {
    const { run, calls } = scripted([{ exitCode: 2, stdout: '', stderr: 'sh: nope' }]);
    await expect(runStep(deps(run), 'm', 'step', 'nope')).rejects.toThrow(/exit 2\): sh: nope/);
    expect(calls).toHaveLength(1);
  });

  it('the CA install fails unless update-ca-certificates reports the certificate added', async () => {
    const none = scripted([ok('Updating certificates in /etc/ssl/certs...\n0 added, 0 removed; done.\n')]);
    await expect(installCa(deps(none.run), 'm', PEM, '/etc/bot-bottle/ca.pem')).rejects.toThrow(/did not report the certificate added.*0 added/);
    const added = scripted([ok('Updating certificates in /etc/ssl/certs...\n1 added, 0 removed; done.\n')]);
    await expect(installCa(deps(added.run), 'm', PEM, '/etc/bot-bottle/ca.pem')).resolves.toBeUndefined();
  });

  it('the CA must be a PEM certificate before it goes into a script', async () => {
    const { run, calls } = scripted([ok('1 added')]);
    await expect(installCa(deps(run), 'm', `${PEM}BOT_BOTTLE_CA\nrm -rf /\n`, '/etc/bot-bottle/ca.pem')).rejects.toThrow(/not a PEM/);
    expect(calls).toHaveLength(0);
  });

  it('a delete answered "Cancelled" is a failure; "vm not found" counts as deleted', async () => {
    await expect(deleteMachine(scripted([ok("Delete machine 'm'? [y/N] Cancelled\n")]).run, 'm')).rejects.toThrow(/Cancelled/);
    await expect(deleteMachine(scripted([{ exitCode: 1, stdout: '', stderr: 'Error: vm not found: m' }]).run, 'm')).resolves.toBeUndefined();
  });
});

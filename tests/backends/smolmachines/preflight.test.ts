import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { smolmachinesAvailability } from '../../../src/backends/smolmachines/index.js';
import { smolmachinesPreflight } from '../../../src/backends/smolmachines/preflight.js';
import { SMOLVM_DOUBLE_DIR } from '../../support/smolvm.js';

const dir = mkdtempSync(join(tmpdir(), 'bb-smol-preflight-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A PATH whose only smolvm is the double, answering as `version`. */
function pathWithSmolvm(version: string): string {
  const bin = mkdtempSync(join(dir, 'bin-'));
  writeFileSync(join(bin, 'smolvm'), `#!/bin/sh\nSMOLVM_DOUBLE_VERSION=${version} exec ${SMOLVM_DOUBLE_DIR}/smolvm "$@"\n`);
  chmodSync(join(bin, 'smolvm'), 0o755);
  return `${bin}:/usr/bin:/bin`;
}
const dockerUp = () => Promise.resolve({ available: true, reason: 'Docker engine 99' });
const kvm = join(dir, 'kvm');
writeFileSync(kvm, '');

describe('smolmachines preflight', () => {
  it('passes with smolvm >= 1.8.0, a usable KVM device and Docker', async () => {
    const checks = await smolmachinesPreflight({ pathVar: pathWithSmolvm('1.9.3'), kvmPath: kvm, platform: 'linux', docker: dockerUp });
    expect(checks.map((c) => [c.check, c.ok])).toEqual([
      ['smolvm', true],
      ['hypervisor', true],
      ['docker', true],
    ]);
    expect(checks[0]!.detail).toMatch(/^smolvm 1\.9\.3/);
  });

  it('refuses smolvm older than 1.8.0, saying why (the allow-list is dropped) and how to fix it', async () => {
    const [smolvm] = await smolmachinesPreflight({ pathVar: pathWithSmolvm('1.7.4'), kvmPath: kvm, platform: 'linux', docker: dockerUp });
    expect(smolvm).toMatchObject({ check: 'smolvm', ok: false });
    expect(smolvm!.detail).toMatch(/1\.7\.4 is older than 1\.8\.0: .*drops --allow-cidr/);
    expect(smolvm!.fix).toMatch(/installer.*--backend docker/);
  });

  it('smolvm missing from PATH names the installer', async () => {
    const [smolvm] = await smolmachinesPreflight({ pathVar: dir, kvmPath: kvm, platform: 'linux', docker: dockerUp });
    expect(smolvm).toMatchObject({ ok: false, detail: 'smolvm is not on PATH' });
    expect(smolvm!.fix).toMatch(/installer/);
  });

  it('a missing /dev/kvm fails and points at --backend docker', async () => {
    const checks = await smolmachinesPreflight({ pathVar: pathWithSmolvm('1.9.3'), kvmPath: join(dir, 'no-kvm'), platform: 'linux', docker: dockerUp });
    expect(checks[1]).toMatchObject({ check: 'hypervisor', ok: false });
    expect(checks[1]!.detail).toMatch(/no-kvm does not exist/);
    expect(checks[1]!.fix).toMatch(/--backend docker/);
  });

  it('macOS needs Apple Silicon; Docker must answer', async () => {
    const down = () => Promise.resolve({ available: false, reason: 'no Docker engine answers (is dockerd running?)' });
    const checks = await smolmachinesPreflight({ pathVar: pathWithSmolvm('1.9.3'), platform: 'darwin', arch: 'x64', docker: down });
    expect(checks[1]).toMatchObject({ ok: false, detail: expect.stringMatching(/Apple Silicon/) as unknown });
    expect(checks[2]).toMatchObject({ ok: false, fix: expect.stringMatching(/start the Docker engine/) as unknown });
    const arm = await smolmachinesPreflight({ pathVar: pathWithSmolvm('1.9.3'), platform: 'darwin', arch: 'arm64', docker: dockerUp });
    expect(arm[1]!.ok).toBe(true);
  });

  it('availability carries every failed check with its fix, and is never "available" before launching is wired', async () => {
    const old = await smolmachinesAvailability({ pathVar: pathWithSmolvm('1.7.4'), kvmPath: join(dir, 'no-kvm'), platform: 'linux', docker: dockerUp });
    expect(old.available).toBe(false);
    expect(old.reason).toMatch(/older than 1\.8\.0.*installer.*no-kvm does not exist.*--backend docker/);
    const fine = await smolmachinesAvailability({ pathVar: pathWithSmolvm('1.9.3'), kvmPath: kvm, platform: 'linux', docker: dockerUp });
    expect(fine).toMatchObject({ available: false, reason: expect.stringMatching(/cannot launch bottles in this version yet/) as unknown });
  });
});

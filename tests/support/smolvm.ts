import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { findOnPath } from '../../src/backends/probe.js';
import { smolvmRunner, type SmolvmRun } from '../../src/backends/smolmachines/smolvm.js';

/** The test double's folder (a `smolvm` executable; see its README). */
export const SMOLVM_DOUBLE_DIR = resolve('tests/support/smolvm-double');

/**
 * The smolvm the tests drive: a real one when one is installed (found on
 * PATH outside the double's folder), else the double. Tests that inject
 * failures run only against the double (`double: true`).
 */
export interface SmolvmUnderTest {
  binary: string;
  double: boolean;
  /** SMOLVM_DATA_DIR of this test file: state (and, for the double, its Docker objects) is found by it. */
  dataDir: string;
  env: Record<string, string | undefined>;
  run: SmolvmRun;
  /** A runner with extra SMOLVM_* knobs (the double's injected failures). */
  with: (extra: Record<string, string>) => SmolvmRun;
  cleanup: () => void;
}

export function smolvmUnderTest(): SmolvmUnderTest {
  const real = findOnPath('smolvm', (process.env.PATH ?? '').split(delimiter).filter((d) => resolve(d) !== SMOLVM_DOUBLE_DIR).join(delimiter));
  const binary = real ?? join(SMOLVM_DOUBLE_DIR, 'smolvm');
  const dataDir = mkdtempSync(join(tmpdir(), 'bb-smolvm-'));
  const env = { ...process.env, SMOLVM_DATA_DIR: dataDir };
  return {
    binary,
    double: real === undefined,
    dataDir,
    env,
    run: smolvmRunner({ binary, env }),
    with: (extra) => smolvmRunner({ binary, env: { ...env, ...extra } }),
    cleanup: () => {
      if (real === undefined) removeDoubleObjects(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The Docker objects the double made for one data dir (it labels every one). */
export function doubleObjects(dataDir: string): { containers: string[]; networks: string[] } {
  const list = (args: string[]): string[] => execFileSync('docker', args, { encoding: 'utf8' }).split('\n').filter(Boolean);
  const label = `label=smolvm-double.data-dir=${dataDir}`;
  return { containers: list(['ps', '-aq', '--filter', label]), networks: list(['network', 'ls', '-q', '--filter', label]) };
}

function removeDoubleObjects(dataDir: string): void {
  const run = (args: string[]): void => {
    try {
      execFileSync('docker', args, { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  };
  const { containers, networks } = doubleObjects(dataDir);
  if (containers.length > 0) run(['rm', '-f', ...containers]);
  for (const n of networks) run(['network', 'rm', n]);
  const images = execFileSync('docker', ['images', '-q', '--filter', `label=smolvm-double.data-dir=${dataDir}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  if (images.length > 0) run(['rmi', '-f', ...new Set(images)]);
}

import { open } from 'node:fs/promises';
import { dockerAvailability } from '../docker/index.js';
import { findOnPath, probe } from '../probe.js';
import type { Availability } from '../types.js';
import type { PreflightCheckPlan } from '../../plan/boundary.js';
import { MIN_SMOLVM_VERSION, parseSmolvmVersion, versionAtLeast } from './smolvm.js';

export type PreflightCheck = PreflightCheckPlan;

export const SMOLVM_INSTALL_FIX = 'install or update smolvm with its installer (https://github.com/smol-machines/smolvm#install), or use --backend docker';

export interface PreflightOptions {
  /** Where smolvm is looked up (default PATH). */
  pathVar?: string | undefined;
  /** The KVM device (default /dev/kvm); injectable so tests can name one that is missing. */
  kvmPath?: string;
  platform?: NodeJS.Platform;
  arch?: string;
  /** Docker reachability (default: the docker backend's own check). */
  docker?: () => Promise<Availability>;
}

/**
 * What the host needs before a smolmachines bottle can start. Every check
 * runs (a dry run lists all that fail); each failure names its fix.
 */
export async function smolmachinesPreflight(opts: PreflightOptions = {}): Promise<PreflightCheck[]> {
  return Promise.all([checkSmolvm(opts.pathVar), checkHypervisor(opts), checkDocker(opts.docker ?? dockerAvailability)]);
}

export function failedChecks(checks: readonly PreflightCheck[]): PreflightCheck[] {
  return checks.filter((c) => !c.ok);
}

async function checkSmolvm(pathVar: string | undefined): Promise<PreflightCheck> {
  const binary = findOnPath('smolvm', pathVar ?? process.env.PATH);
  if (binary === undefined) return { check: 'smolvm', ok: false, detail: 'smolvm is not on PATH', fix: SMOLVM_INSTALL_FIX };
  const answer = await probe(binary, ['--version']);
  const version = answer.ok ? parseSmolvmVersion(answer.output) : undefined;
  if (version === undefined) {
    return { check: 'smolvm', ok: false, detail: `${binary} --version did not answer "smolvm X.Y.Z": ${answer.output.slice(0, 120)}`, fix: SMOLVM_INSTALL_FIX };
  }
  if (!versionAtLeast(version, MIN_SMOLVM_VERSION)) {
    return {
      check: 'smolvm',
      ok: false,
      detail: `smolvm ${version} is older than ${MIN_SMOLVM_VERSION}: its \`machine create --from\` silently drops --allow-cidr, so the bottle would have no egress policy`,
      fix: SMOLVM_INSTALL_FIX,
    };
  }
  return { check: 'smolvm', ok: true, detail: `smolvm ${version} (${binary})` };
}

async function checkHypervisor(opts: PreflightOptions): Promise<PreflightCheck> {
  const platform = opts.platform ?? process.platform;
  if (platform === 'darwin') {
    const arch = opts.arch ?? process.arch;
    return arch === 'arm64'
      ? { check: 'hypervisor', ok: true, detail: 'macOS on Apple Silicon (Hypervisor.framework)' }
      : { check: 'hypervisor', ok: false, detail: `smolvm on macOS needs Apple Silicon; this is ${arch}`, fix: 'use --backend docker' };
  }
  if (platform !== 'linux') return { check: 'hypervisor', ok: false, detail: `smolvm does not run on ${platform}`, fix: 'use --backend docker' };
  const kvm = opts.kvmPath ?? '/dev/kvm';
  // Opened, not just stat'ed: root passes every access() check, and a device node can exist without a working KVM.
  try {
    const handle = await open(kvm, 'r+');
    await handle.close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { check: 'hypervisor', ok: false, detail: `${kvm} does not exist (no KVM: virtualisation is off, or this is a VM without nested virtualisation)`, fix: 'enable KVM on this host, or use --backend docker' };
    if (code === 'EACCES' || code === 'EPERM') {
      return { check: 'hypervisor', ok: false, detail: `${kvm} is not readable and writable by this user`, fix: 'add yourself to the kvm group (sudo usermod -aG kvm $USER, then log in again), or use --backend docker' };
    }
    return { check: 'hypervisor', ok: false, detail: `${kvm} cannot be opened (${code ?? String(error)})`, fix: 'enable KVM on this host, or use --backend docker' };
  }
  return { check: 'hypervisor', ok: true, detail: `${kvm} is readable and writable` };
}

async function checkDocker(docker: () => Promise<Availability>): Promise<PreflightCheck> {
  const engine = await docker();
  return engine.available
    ? { check: 'docker', ok: true, detail: engine.reason }
    : { check: 'docker', ok: false, detail: `the sidecar bundle runs in Docker: ${engine.reason}`, fix: 'start the Docker engine (or Docker Desktop), or use --backend bwrap' };
}

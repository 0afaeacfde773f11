import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { TeardownStack } from '../../launch/teardown.js';
import { removeTree } from '../../util/safe-fs.js';
import { deleteMachine, stopMachine, type MachineDeps } from './machine.js';
import { assertMachineName, importArgs, packArgs, smolvmOk, SmolvmError, startArgs, stopArgs } from './smolvm.js';

const IMAGE_ID = /^sha256:([0-9a-f]{64})$/;

/** The pack of an image is keyed by the engine's image id: a rebuilt image is a new pack, the same one is reused. */
export function packFile(cacheDir: string, imageId: string): string {
  const hex = IMAGE_ID.exec(imageId)?.[1];
  if (hex === undefined) throw new SmolvmError(`"${imageId.slice(0, 80)}" is not a docker image id (sha256:<64 hex>)`, 2);
  return join(cacheDir, `${hex}.smolmachine`);
}

/** A cached pack counts only as a regular file (never a link someone put there). */
function cached(file: string): boolean {
  try {
    return lstatSync(file).isFile();
  } catch {
    return false;
  }
}

export interface PackOptions {
  imageId: string;
  cacheDir: string;
  /** Produces the image as a `docker save` stream (default: the docker CLI). */
  save?: (imageId: string) => SaveStream;
}

export interface SaveStream {
  stdout: Readable;
  done: Promise<{ ok: boolean; message: string }>;
}

function dockerSave(imageId: string): SaveStream {
  const child = spawn('docker', ['save', imageId], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-2000);
  });
  // 'exit', not 'close': the consumer owns stdout, and its end is not ours to wait for.
  const done = new Promise<{ ok: boolean; message: string }>((resolve) => {
    child.on('error', (error) => resolve({ ok: false, message: error.message }));
    child.on('exit', (code, signal) => resolve({ ok: code === 0, message: stderr.trim() || `exit ${code ?? signal ?? '?'}` }));
  });
  return { stdout: child.stdout, done };
}

/**
 * The agent image as a `.smolmachine`, built once per image id: a local
 * image cannot go through `pack create -I` (that pulls from a registry), so
 * it is imported (`docker save | machine create --image -`), booted once,
 * stopped and packed with `--from-vm`. The temporary machine and folder are
 * undone whatever happens; the pack appears in the cache only complete
 * (renamed into place).
 */
export async function ensurePack(deps: MachineDeps, opts: PackOptions): Promise<{ file: string; built: boolean }> {
  const file = packFile(opts.cacheDir, opts.imageId);
  if (cached(file)) return { file, built: false };
  mkdirSync(opts.cacheDir, { recursive: true, mode: 0o700 });
  const stack = new TeardownStack((failure) => deps.log(`bot-bottle: cleaning up after packing: ${failure.label}: ${failure.error instanceof Error ? failure.error.message : String(failure.error)}`));
  const hex = IMAGE_ID.exec(opts.imageId)?.[1] ?? '';
  const base = assertMachineName(`bb-pack-${hex.slice(0, 12)}-${randomBytes(3).toString('hex')}`);
  deps.log(`bot-bottle: packing the agent image ${opts.imageId.slice(0, 19)} for smolvm (once per image)`);
  try {
    await stack.guard(async () => {
      const work = mkdtempSync(join(opts.cacheDir, '.pack-'));
      stack.defer(`remove ${work}`, () => removeTree(opts.cacheDir, work));
      const save = (opts.save ?? dockerSave)(opts.imageId);
      const imported = await deps.run(importArgs(base), { input: save.stdout });
      const saved = await save.done;
      // The machine may exist even when the import failed half-way.
      stack.defer(`smolvm machine ${base}`, () => deleteMachine(deps.run, base));
      if (!saved.ok) throw new SmolvmError(`docker save ${opts.imageId} failed: ${saved.message}`, 1, saved.message);
      if (imported.exitCode !== 0) throw new SmolvmError(`smolvm machine create --image - failed (exit ${imported.exitCode}): ${imported.stderr.trim()}`, imported.exitCode, imported.stderr.trim());
      await smolvmOk(deps.run, startArgs(base));
      stack.defer(`stop smolvm machine ${base}`, () => stopMachine(deps.run, base));
      await smolvmOk(deps.run, stopArgs(base));
      const out = join(work, hex);
      await smolvmOk(deps.run, packArgs(base, out));
      if (!cached(`${out}.smolmachine`)) throw new SmolvmError(`smolvm pack create reported success but wrote no ${out}.smolmachine`, 1);
      renameSync(`${out}.smolmachine`, file);
    });
  } finally {
    await stack.unwind();
  }
  return { file, built: true };
}

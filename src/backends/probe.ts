import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execFile } from 'node:child_process';

/** Run a probe command quietly; ok when it exits 0 within the time limit. (node:child_process: the CLI's start-up path stays small.) */
export function probe(file: string, args: readonly string[], timeoutMs = 5_000): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}`.trim() || (error?.message ?? '') });
    });
  });
}

/** Cheap PATH lookup, so auto-detection does not spawn programs that are not installed. */
export function onPath(command: string, pathVar: string | undefined = process.env.PATH): boolean {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // Not in this folder.
    }
  }
  return false;
}

/** The first executable `command` in an absolute folder of `pathVar` (so the program availability found is the one launched). */
export function findOnPath(command: string, pathVar: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

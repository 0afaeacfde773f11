import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';

/** Run a probe command quietly; true when it exits 0 within the time limit. */
export async function probe(file: string, args: readonly string[], timeoutMs = 5_000): Promise<{ ok: boolean; output: string }> {
  try {
    const result = await execa(file, args, { timeout: timeoutMs, reject: false, stdin: 'ignore' });
    return { ok: result.exitCode === 0, output: `${result.stdout}${result.stderr}`.trim() };
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
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

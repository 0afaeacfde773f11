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

import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import * as z from 'zod/mini';
import { readOpenFile } from '../util/safe-fs.js';

/**
 * The bundle's secrets (token slots, sensitive host values) arrive in a file
 * the launcher made for the bundle alone, named by the config's
 * `secretsFile`: never in the environment (`ps e`, `docker inspect`) or on the
 * command line. The file is checked as hostile input: a regular file, not a
 * link, owned by this uid and readable by nobody else.
 */
const MAX_BYTES = 1 << 20;

export const BundleSecretsSchema = z.record(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/)), z.string());
export type BundleSecrets = z.infer<typeof BundleSecretsSchema>;

export function readBundleSecrets(file: string): BundleSecrets {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new Error(`secrets file ${file}: cannot open it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`secrets file ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) throw new Error(`secrets file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); it must be 0600`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) throw new Error(`secrets file ${file} belongs to uid ${st.uid}, not to the bundle's uid ${uid}`);
    if (st.size > MAX_BYTES) throw new Error(`secrets file ${file} is over ${MAX_BYTES} bytes`);
    const text = readOpenFile(fd, st.size).toString('utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      // Never the parser's message: it may quote the file's text.
      throw new Error(`secrets file ${file} is not JSON`);
    }
    const parsed = z.safeParse(BundleSecretsSchema, raw);
    if (!parsed.success) throw new Error(`secrets file ${file} is not an object of names to strings`);
    return parsed.data;
  } finally {
    closeSync(fd);
  }
}

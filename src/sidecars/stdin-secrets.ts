/**
 * `--secrets-stdin`: the bundle's secrets (token slots, the DLP's sensitive
 * host values, its knobs) arrive as the first line of stdin, one JSON object
 * of names to values, instead of the environment or argv, which `docker
 * inspect` (and `ps e` on a host) show. They are set on `process.env` in
 * memory, where egress and git-gate read them; the process's initial
 * environment (`/proc/self/environ`) never holds them. The rest of stdin
 * stays the parent-watch of `--exit-with-parent`.
 */
/** No secrets line arrived in time (for a docker standby: its idle time is over). */
export class NoSecretsLine extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_BYTES = 1 << 20;

export function readStdinSecrets(input: NodeJS.ReadableStream = process.stdin, timeoutMs = 30_000): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => done(new NoSecretsLine(`no secrets line on stdin within ${timeoutMs / 1000} s`)), timeoutMs);
    const done = (error: Error | undefined, line?: Buffer, rest?: Buffer): void => {
      clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      if (rest !== undefined && rest.length > 0) input.unshift(rest);
      if (error) return reject(error);
      try {
        resolve(parseSecrets(line ?? Buffer.alloc(0)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl >= 0) return done(undefined, buffered.subarray(0, nl), buffered.subarray(nl + 1));
      if (buffered.length > MAX_BYTES) done(new Error(`the secrets line on stdin is over ${MAX_BYTES} bytes`));
    };
    const onEnd = (): void => done(new Error('stdin ended before the secrets line'));
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
  });
}

/** Names are checked; values are never echoed in an error. */
export function parseSecrets(line: Buffer): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    throw new Error('the secrets line on stdin is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the secrets line on stdin is not a JSON object');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!NAME.test(name)) throw new Error(`the secrets line on stdin names "${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)}", which is not an environment variable name`);
    if (typeof value !== 'string' || value.includes('\0')) throw new Error(`the secret ${name} on stdin is not a string without NUL`);
    out[name] = value;
  }
  return out;
}

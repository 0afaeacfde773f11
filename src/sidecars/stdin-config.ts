/**
 * `--config-on-stdin`: a bundle the CLI started before it knew the bottle
 * (src/launch/prespawn.ts) learns its config file's path as the first line of
 * stdin. Until that line arrives it has loaded its modules and nothing else:
 * no socket, no CA, no file read. The rest of stdin stays the parent-watch of
 * `--exit-with-parent` and the `warm` line.
 */
const MAX_BYTES = 4096;

/**
 * The path on the first line, checked (absolute, printable, a `.json` file);
 * undefined when stdin ends first (the CLI ran something other than a launch,
 * or died) or the line is `exit`.
 */
export function readConfigLine(input: NodeJS.ReadableStream = process.stdin): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const done = (error: Error | undefined, path?: string): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      if (error) reject(error);
      else resolve(path);
    };
    const onData = (chunk: Buffer | string): void => {
      buffered += chunk.toString();
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > MAX_BYTES) done(new Error(`the config line on stdin is over ${MAX_BYTES} bytes`));
        return;
      }
      const path = buffered.slice(0, nl);
      // The launcher took the bundle but has no launch for it after all (a standby claim it gave up).
      if (path === 'exit') return done(undefined, undefined);
      if (!/^\/[\x20-\x7e]*\.json$/.test(path) || path.split('/').includes('..')) {
        done(new Error('the config line on stdin is not an absolute path to a .json file'));
        return;
      }
      done(undefined, path);
    };
    const onEnd = (): void => done(undefined, undefined);
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
  });
}

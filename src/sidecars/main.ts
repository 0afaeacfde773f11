import { runSidecars } from './run.js';
import { readStdinSecrets } from './stdin-secrets.js';

/**
 * The bundle's own entry point (dist/sidecars.js): the same daemons as
 * `bot-bottle sidecars`, without loading the CLI's commands, so a bottle's
 * bundle starts fast and stays small.
 */
const index = process.argv.indexOf('--config');
const config = index >= 0 ? process.argv[index + 1] : undefined;
if (!config) {
  process.stderr.write('usage: sidecars.js --config FILE\n');
  process.exitCode = 2;
} else {
  if (process.argv.includes('--secrets-stdin')) {
    try {
      Object.assign(process.env, await readStdinSecrets());
    } catch (err) {
      process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
      process.exit(1);
    }
  }
  let warmWhen: Promise<void> | undefined;
  if (process.argv.includes('--exit-with-parent')) {
    // The launching CLI holds our stdin open; if it dies without tearing down, stdin ends and we stop
    // instead of serving a bottle that no longer exists.
    process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
    process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
    // With --warm-on-stdin the launcher says when to warm up (a `warm` line: it has released the agent).
    if (process.argv.includes('--warm-on-stdin')) warmWhen = warmSignal(process.stdin);
    process.stdin.resume();
  }
  try {
    await runSidecars(config, undefined, warmWhen);
  } catch (err) {
    process.stderr.write(`bot-bottle sidecars: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
  // Every daemon has closed; the parent-watch on stdin (or a straggling keep-alive socket) must not keep us alive.
  process.stdin.destroy();
  process.exit();
}

/** Resolves at the first `warm` line on `input`; anything else on it is ignored. */
function warmSignal(input: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk: Buffer | string): void => {
      buffered = (buffered + chunk.toString()).slice(-64);
      if (!/(^|\n)warm\n/.test(buffered)) return;
      input.off('data', onData);
      resolve();
    };
    input.on('data', onData);
  });
}

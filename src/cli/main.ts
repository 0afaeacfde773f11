import { bundleSettings } from '../launch/bundle-secrets.js';
import { discardPrespawnedBundle, prespawnBundle } from '../launch/prespawn.js';
import { mayLaunchHostBundle } from './early-bundle.js';

/** The CLI's program (dist/cli.cjs, started by dist/cli.js: cli/entry.ts). */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // First, before the commands' modules load: the bundle's own start overlaps the CLI's (launch/prespawn.ts).
  if (mayLaunchHostBundle(argv, process.env)) prespawnBundle(bundleSettings(process.env));
  process.once('exit', discardPrespawnedBundle);
  try {
    const [{ processContext }, { runCli }] = await Promise.all([import('./context.js'), import('./program.js')]);
    process.exitCode = await runCli(argv, processContext());
  } finally {
    discardPrespawnedBundle();
  }
}

void main();

/**
 * Whether this command line may launch a bottle whose sidecar bundle runs on
 * this host (bwrap), judged from argv alone before any command module loads:
 * then src/cli/main.ts pre-spawns the bundle (src/launch/prespawn.ts). A wrong
 * yes costs a node start that is killed at exit; a wrong no costs nothing but
 * the overlap. `BOT_BOTTLE_PRESPAWN=0` turns it off.
 */
export function mayLaunchHostBundle(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.BOT_BOTTLE_PRESPAWN === '0') return false;
  const [command, ...rest] = argv;
  if (command !== 'start' && command !== 'resume') return false;
  if (rest.some((a) => a === '--dry-run' || a === '--help' || a === '-h')) return false;
  let backend = env.BOT_BOTTLE_BACKEND;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--') break;
    if (arg === '--backend') backend = rest[i + 1];
    else if (arg.startsWith('--backend=')) backend = arg.slice('--backend='.length);
  }
  return backend === undefined || backend === '' || backend === 'bwrap';
}

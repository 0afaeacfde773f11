import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { launchMarker } from '../sidecars/launch-marker.js';
import { BUNDLE_NODE_FLAGS } from '../sidecars/node-flags.js';
import { botBottleHome } from '../state/paths.js';
import { packageRoot } from '../util/package-root.js';
import { claimStandby, standbySocket, standbyWanted, type ClaimedStandby } from './standby.js';
import { trace } from '../util/trace.js';

/**
 * The sidecar bundle started by the CLI's entry point before it loads its
 * commands, so node's start and the bundle's module loading overlap the CLI's
 * own (docs/performance.md, "claude -p through a bottle"). It holds nothing:
 * no config, no secret, no socket, until the launch that takes it writes its
 * config file's path to its stdin (sidecars/stdin-config.ts). It ends when its
 * stdin closes, so a CLI that dies, however, leaves nothing; a command that is
 * not a launch, or a launch that fails before its bundle starts, kills it
 * (`discardPrespawnedBundle`).
 */
export interface PrespawnedBundle {
  kind: 'child';
  child: ChildProcessWithoutNullStreams;
  /** On its command line only: what the containment check looks for inside the bottle. */
  marker: string;
  argv: string[];
  env: Record<string, string>;
  expiry: NodeJS.Timeout;
}

/** A standby bundle being claimed at the CLI's start instead (launch/standby.ts). */
export interface ClaimingStandby {
  kind: 'standby';
  claim: Promise<ClaimedStandby | undefined>;
  entry: string;
  env: Record<string, string>;
  expiry: NodeJS.Timeout;
}

/** What a launch takes: a child of this CLI, or a claimed standby bundle. */
export type EarlyBundle = PrespawnedBundle | (ClaimedStandby & { kind: 'standby' });

const HOLD_MS = 60_000;
/**
 * The held bundle lives on a process-wide slot, not in this module: dist/cli.js (cli/entry.ts) spawns it
 * before the program (dist/cli.cjs, which has its own copy of this module) has loaded.
 */
const SLOT = Symbol.for('bot-bottle.prespawned-bundle');
const slot = globalThis as unknown as { [SLOT]?: PrespawnedBundle | ClaimingStandby };

/** The bundle's command line: `--config FILE`, or `--config-on-stdin` for a pre-spawned one. */
export function bundleArgv(sidecarsJs: string, marker: string, configFile?: string): string[] {
  const config = configFile === undefined ? ['--config-on-stdin'] : ['--config', configFile];
  return [...BUNDLE_NODE_FLAGS, sidecarsJs, ...config, '--launch-marker', marker, '--exit-with-parent', '--warm-on-stdin'];
}

export function sidecarsEntry(): string {
  return join(packageRoot(), 'dist', 'sidecars.js');
}

/** Start the bundle for a launch that has not been resolved yet. `env` holds the bundle's knobs only (bundleSettings). */
export function prespawnBundle(env: Record<string, string>): void {
  if (slot[SLOT] !== undefined) return;
  const entry = sidecarsEntry();
  if (!existsSync(entry)) return;
  // A standby for exactly this build and these settings waits for us: take it rather than start a node.
  const standby = standbyWanted(process.env) ? standbySocket(botBottleHome(process.env), entry, env) : undefined;
  if (standby !== undefined && lstatSync(standby, { throwIfNoEntry: false })?.isSocket() === true) {
    slot[SLOT] = { kind: 'standby', claim: claimStandby(standby, entry), entry, env, expiry: holdExpiry() };
    trace('claiming the standby sidecar bundle');
    return;
  }
  const marker = launchMarker();
  const argv = bundleArgv(entry, marker);
  // Its own session, as host-sidecars.ts explains; stdin is its parent-watch.
  const child = spawn(process.execPath, argv, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  if (child.pid === undefined) return;
  // Until a launch takes it, it must not keep the CLI alive (a `--help`, a failed plan).
  setRef(child, false);
  slot[SLOT] = { kind: 'child', child, marker, argv, env, expiry: holdExpiry() };
  trace(`sidecar bundle pre-spawned (pid ${child.pid})`);
}

/**
 * The pre-spawned or claimed bundle, if it was started with exactly this entry and this environment and is
 * still running; the caller owns it from now on (registers its stop at once). Any other is ended.
 */
export async function takePrespawnedBundle(sidecarsJs: string, env: Record<string, string>): Promise<EarlyBundle | undefined> {
  const bundle = slot[SLOT];
  delete slot[SLOT];
  if (bundle === undefined) return undefined;
  clearTimeout(bundle.expiry);
  if (bundle.kind === 'standby') {
    const claimed = await bundle.claim;
    if (claimed === undefined) return undefined;
    if (bundle.entry !== sidecarsJs || !sameEnv(bundle.env, env)) {
      claimed.channel.end('exit\n');
      return undefined;
    }
    claimed.channel.ref();
    trace(`standby sidecar bundle claimed (pid ${claimed.pid})`);
    return { kind: 'standby', ...claimed };
  }
  const alive = bundle.child.exitCode === null && bundle.child.signalCode === null;
  if (!alive || bundle.argv[BUNDLE_NODE_FLAGS.length] !== sidecarsJs || !sameEnv(bundle.env, env)) {
    bundle.child.kill('SIGKILL');
    return undefined;
  }
  setRef(bundle.child, true);
  return bundle;
}

/** End the early bundle if no launch took it (the CLI is about to exit): a claimed standby ends with its connection. */
export function discardPrespawnedBundle(): void {
  const bundle = slot[SLOT];
  delete slot[SLOT];
  if (bundle === undefined) return;
  clearTimeout(bundle.expiry);
  if (bundle.kind === 'standby') {
    void bundle.claim.then((claimed) => claimed?.channel.end('exit\n'));
    return;
  }
  if (bundle.child.exitCode === null && bundle.child.signalCode === null) bundle.child.kill('SIGKILL');
}

/** A launch that has not taken the early bundle by then (an operator answering a secret prompt) starts a fresh one. */
function holdExpiry(): NodeJS.Timeout {
  const expiry = setTimeout(discardPrespawnedBundle, HOLD_MS);
  expiry.unref();
  return expiry;
}

function setRef(child: ChildProcessWithoutNullStreams, ref: boolean): void {
  for (const stream of [child.stdin, child.stdout, child.stderr] as unknown as Array<{ ref?: () => void; unref?: () => void }>) {
    if (ref) stream.ref?.();
    else stream.unref?.();
  }
  if (ref) child.ref();
  else child.unref();
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { ensureStandbyDir, standbyDir } from '../../launch/standby.js';
import { packageRoot } from '../../util/package-root.js';
import { upstreamCaBind } from './bundle.js';
import { ensureSidecarsImage } from './images.js';
import { detectRuntime } from './runtime.js';
import { standbyIdleSeconds } from '../../sidecars/standby-idle.js';
import { cancelExpiry, makeStandby, newStandbyId, recordExpiry, standbyBinds, standbyKey, standbyReady, sweepStandbys, type StandbyShape } from './standby.js';

/**
 * What the helper reads: the engine's address, where the tools are, and the knobs that decide what a standby
 * is (standbyKey's inputs) and how long it waits. By name, never by prefix: the README's token variables are
 * `BOT_BOTTLE_*` names too.
 */
const HELPER_ENV = [
  'PATH',
  'HOME',
  'DOCKER_HOST',
  'DOCKER_CONFIG',
  'DOCKER_CONTEXT',
  'BOT_BOTTLE_HOME',
  'BOT_BOTTLE_DOCKER_RUNTIME',
  'BOT_BOTTLE_DOCKER_BUNDLE_RUNTIME',
  'BOT_BOTTLE_DOCKER_EGRESS_NETWORK',
  'BOT_BOTTLE_DOCKER_POOL',
  'BOT_BOTTLE_DOCKER_BASE_IMAGE',
  'BOT_BOTTLE_UPSTREAM_CA',
  'BOT_BOTTLE_STANDBY_IDLE_S',
  'BOT_BOTTLE_TRACE',
] as const;

function helperEnv(hostEnv: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(HELPER_ENV.flatMap((name) => (hostEnv[name] === undefined ? [] : [[name, hostEnv[name]]])));
}

/**
 * The next docker standby is made by a detached helper (`bot-bottle
 * __docker-standby --home H`) that the ending launch starts: the engine's work
 * (two networks, a container, its start: ~0.5 s) must neither delay the
 * launch's own exit nor die with it. Its environment is the knobs it reads
 * (HELPER_ENV), nothing else; its output goes
 * to `<home>/standby/docker.log`.
 */
export function spawnStandbyHelper(home: string, hostEnv: Readonly<Record<string, string | undefined>>): number | undefined {
  if (!ensureStandbyDir(home)) return undefined;
  const env = helperEnv(hostEnv);
  let log: number;
  try {
    log = openSync(join(standbyDir(home), 'docker.log'), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  } catch {
    return undefined;
  }
  try {
    const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'cli.js'), '__docker-standby', '--home', home], { env, cwd: '/', stdio: ['ignore', log, log], detached: true });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** What a launch with this environment would look for (boundary.ts computes the same from its own values). */
export async function currentShape(home: string, hostEnv: Readonly<Record<string, string | undefined>>): Promise<StandbyShape> {
  const [runtime, image] = await Promise.all([detectRuntime(hostEnv), ensureSidecarsImage({ env: hostEnv })]);
  return { image: image.id, runtime: runtime.bundle, binds: standbyBinds(home, upstreamCaBind(hostEnv)), hostEnv };
}

/**
 * The helper's work: remove dead standbys of this shape, then make one unless one waits already, and leave
 * its expiry behind (expireLater).
 */
export async function runStandbyHelper(home: string, hostEnv: Readonly<Record<string, string | undefined>>): Promise<string | undefined> {
  const shape = await currentShape(home, hostEnv);
  const key = standbyKey(shape);
  await sweepStandbys(home, key);
  if (await standbyReady(key)) return undefined;
  // Its expiry is in place (and recorded, so a claim can end it) before the standby can be claimed.
  const id = newStandbyId();
  const sleeper = expireLater(home, id, standbyIdleSeconds(hostEnv.BOT_BOTTLE_STANDBY_IDLE_S), hostEnv);
  if (sleeper !== undefined) recordExpiry(home, id, sleeper);
  try {
    await makeStandby(shape, id);
  } catch (error) {
    cancelExpiry(home, id);
    throw error;
  }
  return id;
}

/**
 * An unclaimed standby removes itself after its idle time, networks and host rule included (its bundle alone
 * could only exit): a `sleep` in its own session, then `__docker-standby --expire ID`, which takes the claim
 * as a launch would (expireStandby). A few hundred kB for the idle time, where a node process waiting would
 * be ~40 MB. A claim or a removal ends it early (cancelExpiry): SIGTERM, on which it ends its `sleep` too.
 */
function expireLater(home: string, id: string, seconds: number, hostEnv: Readonly<Record<string, string | undefined>>): number | undefined {
  const env = helperEnv(hostEnv);
  const script = 'trap \'kill "$w" 2>/dev/null; exit 0\' TERM; sleep "$1" & w=$!; wait "$w" || exit 0; exec "$2" "$3" __docker-standby --home "$4" --expire "$5"';
  const child = spawn('/bin/sh', ['-c', script, 'sh', String(seconds + 1), process.execPath, join(packageRoot(), 'dist', 'cli.js'), home, id], {
    env,
    cwd: '/',
    stdio: 'ignore',
    detached: true,
  });
  child.on('error', () => undefined);
  child.unref();
  return child.pid;
}

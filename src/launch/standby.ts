import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { LAUNCH_MARKER, launchMarker } from '../sidecars/launch-marker.js';
import { BUNDLE_NODE_FLAGS } from '../sidecars/node-flags.js';
import { identify, type ProcessIdentity } from '../state/process-identity.js';

/**
 * Standby bundles: the end of a bwrap launch starts the bundle for the next
 * one (sidecars/standby.ts), which loads and warms everything no config
 * decides and then waits on `<home>/standby/<key>.sock`. The next launch with
 * the same key takes it instead of starting a node: its bundle is ready as soon
 * as it has read the config, and none of its loading competes with the CLI's
 * own start or the agent's (docs/performance.md, "claude -p through a bottle").
 *
 * The key covers everything that shapes the bundle before its config: the
 * build (path, size and time of dist/sidecars.cjs), node, its flags and the
 * bundle's settings (bundleSettings: the BOT_BOTTLE_* knobs, no secret). A
 * launch with any of those different finds no socket under its key and starts
 * its own bundle as before. An unclaimed standby exits after
 * BOT_BOTTLE_STANDBY_IDLE_S (default 600), when its socket is removed, or at
 * `bot-bottle cleanup`. `BOT_BOTTLE_STANDBY=0` turns all of it off.
 */
export function standbyWanted(env: Readonly<Record<string, string | undefined>>): boolean {
  return env.BOT_BOTTLE_STANDBY !== '0' && env.BOT_BOTTLE_PRESPAWN !== '0';
}

export function standbyDir(home: string): string {
  return join(home, 'standby');
}

/** The socket a standby for this build, node and settings listens on; undefined without a build or past a socket path's length. */
export function standbySocket(home: string, entry: string, settings: Readonly<Record<string, string>>): string | undefined {
  let build: string;
  try {
    const st = statSync(entry.replace(/\.js$/, '.cjs'));
    build = `${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
  const knobs = Object.keys(settings)
    .sort()
    .map((k) => [k, settings[k]]);
  const key = createHash('sha256')
    .update(JSON.stringify([entry, build, process.execPath, process.version, BUNDLE_NODE_FLAGS, knobs]))
    .digest('hex')
    .slice(0, 16);
  const path = join(standbyDir(home), `${key}.sock`);
  // sun_path holds 108 bytes on Linux.
  return Buffer.byteLength(path) <= 100 ? path : undefined;
}

export interface ClaimedStandby {
  pid: number;
  identity: ProcessIdentity;
  /** On its command line: what the containment check looks for inside the bottle. */
  marker: string;
  /** Its stdin and stdout from now on: the config path and `warm` lines out, its JSON log lines in. */
  channel: Socket;
}

const CLAIM_MS = 2_000;

/**
 * Take the standby listening at `socketPath`, if one does: resolves undefined
 * (never rejects) when none answers, or when what answers is not a bundle of
 * this build started for that socket (its /proc command line must name the
 * entry, the socket and the marker it says it has).
 */
export function claimStandby(socketPath: string, entry: string): Promise<ClaimedStandby | undefined> {
  return new Promise((resolve) => {
    const channel = createConnection(socketPath);
    channel.unref();
    let buffered = '';
    let settled = false;
    const done = (claimed: ClaimedStandby | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      channel.off('data', onData);
      if (claimed === undefined) channel.destroy();
      resolve(claimed);
    };
    const timer = setTimeout(() => done(undefined), CLAIM_MS);
    timer.unref();
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > 512) done(undefined);
        return;
      }
      channel.pause();
      const rest = buffered.slice(nl + 1);
      if (rest !== '') channel.unshift(Buffer.from(rest, 'utf8'));
      done(checkHello(buffered.slice(0, nl), socketPath, entry, channel));
    };
    channel.on('data', onData);
    channel.once('connect', () => channel.write('claim\n'));
    channel.on('error', (err: NodeJS.ErrnoException) => {
      // Nothing listens: a standby that was killed left its socket. Removed, so the next launch's end starts one.
      if (err.code === 'ECONNREFUSED') removeSocket(socketPath);
      done(undefined);
    });
    channel.once('close', () => done(undefined));
  });
}

function removeSocket(socketPath: string): void {
  try {
    if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
  } catch {
    // Gone already.
  }
}

function checkHello(line: string, socketPath: string, entry: string, channel: Socket): ClaimedStandby | undefined {
  let hello: { standby?: unknown; pid?: unknown; marker?: unknown };
  try {
    hello = JSON.parse(line) as typeof hello;
  } catch {
    return undefined;
  }
  const { pid, marker } = hello;
  if (hello.standby !== 1 || typeof pid !== 'number' || typeof marker !== 'string' || !LAUNCH_MARKER.test(marker)) return undefined;
  const identity = identify(pid);
  if (identity === undefined) return undefined;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
  const at = argv.indexOf('--standby');
  if (at < 0 || argv[at + 1] !== socketPath || !argv.includes(entry) || argv[argv.indexOf('--launch-marker') + 1] !== marker) return undefined;
  return { pid, identity, marker, channel };
}

/** The standby folder, made 0700 if it is missing; false when it is not a folder of this user's. */
export function ensureStandbyDir(home: string): boolean {
  const dir = standbyDir(home);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const info = lstatSync(dir);
    const uid = process.getuid?.();
    if (!info.isDirectory() || (uid !== undefined && info.uid !== uid)) return false;
    if ((info.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a standby bundle for the next launch with these settings, unless one
 * already listens there. Detached, in its own session, with only the settings
 * for environment and `/` for a working folder; its own output goes to
 * `<key>.log` beside its socket. Returns its pid, or undefined if none was started.
 */
export function spawnStandby(home: string, entry: string, settings: Record<string, string>): number | undefined {
  const socketPath = standbySocket(home, entry, settings);
  if (socketPath === undefined || !ensureStandbyDir(home)) return undefined;
  if (lstatSync(socketPath, { throwIfNoEntry: false }) !== undefined) return undefined;
  let log: number;
  try {
    log = openSync(socketPath.replace(/\.sock$/, '.log'), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  } catch {
    return undefined;
  }
  try {
    const child = spawn(process.execPath, [...BUNDLE_NODE_FLAGS, entry, '--standby', socketPath, '--launch-marker', launchMarker()], {
      env: settings,
      cwd: '/',
      stdio: ['ignore', log, log],
      detached: true,
    });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/**
 * `bot-bottle cleanup`: ask every standby bundle under `home` to exit and
 * remove sockets nothing listens on. Returns how many were asked.
 */
export async function stopStandbys(home: string): Promise<number> {
  const asked = await Promise.all(standbySockets(home).map(askToExit));
  return asked.filter(Boolean).length;
}

/** The standby sockets under `home` (live or left by a killed standby). */
export function standbySockets(home: string): string[] {
  const dir = standbyDir(home);
  try {
    return readdirSync(dir)
      .filter((n) => /^[0-9a-f]{16}\.sock$/.test(n))
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

function askToExit(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(socketPath);
    const timer = setTimeout(() => s.destroy(), 3_000);
    let connected = false;
    s.once('connect', () => {
      connected = true;
      s.end('exit\n');
    });
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.once('close', () => {
      clearTimeout(timer);
      if (!connected) removeSocket(socketPath);
      resolve(connected);
    });
  });
}

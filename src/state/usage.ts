import { lstatSync } from 'node:fs';
import { readMetadata, type BottleMetadata } from './metadata.js';
import { bottleStatePaths } from './paths.js';
import { walkTree } from '../util/safe-fs.js';

export interface BottleUsage {
  /** The metadata, when it is usable. */
  meta?: BottleMetadata;
  /** When the bottle last started or stopped (a damaged state: when its folder last changed). */
  lastUsed: Date;
  /** Bytes on disk below the state folder, links not followed, one file system. */
  bytes: number;
}

/** How old and how big a bottle's state is: what `cleanup` shows and ages by. */
export function bottleUsage(home: string, slug: string): BottleUsage {
  const paths = bottleStatePaths(slug, home);
  let meta: BottleMetadata | undefined;
  try {
    meta = readMetadata(home, slug);
  } catch {
    meta = undefined;
  }
  const times = meta ? [meta.started_at, meta.stopped_at].map((t) => (t === undefined ? NaN : Date.parse(t))).filter((t) => !Number.isNaN(t)) : [];
  if (times.length === 0) times.push(lstatSync(paths.dir).mtimeMs);
  let bytes = 0;
  walkTree(paths.dir, (_path, stats) => {
    bytes += stats.blocks * 512;
  });
  return { ...(meta ? { meta } : {}), lastUsed: new Date(Math.max(...times)), bytes };
}

/** `7d`, `12h`, `30m` or `0` → milliseconds; undefined when it is none of those. */
export function parseAge(text: string): number | undefined {
  const m = /^(\d{1,6})([dhm])$|^0$/.exec(text);
  if (!m) return undefined;
  if (text === '0') return 0;
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
  return Number(m[1]) * unit;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit] ?? 'B'}`;
}

export function formatAge(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} days`;
}

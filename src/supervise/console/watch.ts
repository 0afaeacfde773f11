import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Calls onChange when anything under the queue root may have changed.
 * fs.watch (inotify) gives prompt updates; a periodic rescan covers what it
 * misses (bind mounts, network file systems, folders of bottles started later).
 */
export function watchQueueRoot(queueRoot: string, onChange: () => void, rescanMs = 2_000): () => void {
  const watchers = new Map<string, FSWatcher>();
  let stopped = false;

  function add(dir: string): void {
    if (watchers.has(dir)) return;
    try {
      const w = watch(dir, () => onChange());
      w.on('error', () => {
        w.close();
        watchers.delete(dir);
      });
      watchers.set(dir, w);
    } catch {
      // Not there yet: the next rescan tries again.
    }
  }

  async function rescan(): Promise<void> {
    add(queueRoot);
    const dirs = await readdir(queueRoot, { withFileTypes: true }).catch(() => []);
    if (stopped) return;
    for (const d of dirs) if (d.isDirectory()) add(join(queueRoot, d.name));
  }

  void rescan();
  const timer = setInterval(() => {
    void rescan();
    onChange();
  }, rescanMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}

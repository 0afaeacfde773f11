import { onPath, probe } from '../probe.js';
import { bwrapBoundary } from './launch.js';
import { listBwrap, stopBwrap } from './status.js';
import type { Availability, Backend } from '../types.js';

export function bwrapBackend(): Backend {
  return {
    name: 'bwrap',
    async availability(): Promise<Availability> {
      if (!onPath('bwrap')) return { available: false, reason: 'bwrap (bubblewrap) is not installed' };
      if (!onPath('socat')) return { available: false, reason: 'socat is not installed (the bottle reaches its sidecars through it)' };
      // As root, bwrap maps the sandbox to host root; we always drop to an unprivileged uid first.
      const asRoot = process.getuid?.() === 0;
      const argv = ['--unshare-user', '--unshare-net', '--ro-bind', '/', '/', 'true'];
      const run = asRoot
        ? await probe('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bwrap', ...argv])
        : await probe('bwrap', argv);
      if (!run.ok) return { available: false, reason: `bwrap cannot create an unprivileged user namespace here: ${run.output.split('\n')[0] ?? ''}` };
      return { available: true, reason: 'bubblewrap with unprivileged user namespaces' };
    },
    boundary: (plan, ctx) => bwrapBoundary(plan, ctx),
    exec: () => Promise.reject(new Error('bwrap bottles cannot be entered from outside; use the terminal that started them')),
    attach: () => Promise.reject(new Error('bwrap bottles stay attached to the terminal that started them')),
    list: (home) => Promise.resolve(listBwrap(home)),
    stop: (slug, home) => stopBwrap(slug, home),
  };
}

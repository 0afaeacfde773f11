import { chmodSync, copyFileSync, existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ProbeInside } from '../../containment/gate.js';
import { GUEST_PROBE_NODE, GUEST_PROBE_SCRIPT, PROBE_BUNDLE, probeCommand } from '../../containment/guest.js';
import { packageRoot } from '../../util/package-root.js';
import type { InitProbe } from './init-script.js';

/** The sandbox's fds for the probe: its report out, its spec in, and the launcher's verdict to init. */
export const PROBE_FDS = { report: 6, spec: 7, verdict: 8 } as const;
/** A report larger than this is not a report (the probe's own scan limit is 32 MB, base64 adds a third). */
const MAX_REPORT_BYTES = 64 << 20;

/**
 * The probe's files for a bwrap bottle: the bundled probe (copied into the run
 * folder, so the sandbox uid can read it wherever the package is installed)
 * and the CLI's own node, which is visible already when it lives under /usr
 * and bound read-only otherwise.
 */
export function probeFiles(run: string): { binds: Array<{ src: string; dest: string }>; init: InitProbe } {
  const bundle = join(packageRoot(), 'dist', PROBE_BUNDLE);
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  const script = join(run, PROBE_BUNDLE);
  copyFileSync(bundle, script);
  // Bound as is for a root-started sandbox, whose uid is "other" to the file (root-staging.ts checks o+rx).
  chmodSync(script, 0o755);
  const node = realpathSync(process.execPath);
  const binds = [{ src: script, dest: GUEST_PROBE_SCRIPT }];
  if (node.startsWith('/usr/')) return { binds, init: { argv: probeCommand(node) } };
  return { binds: [...binds, { src: node, dest: GUEST_PROBE_NODE }], init: { argv: probeCommand(GUEST_PROBE_NODE) } };
}

export interface ProbePipes {
  report: Readable;
  spec: Writable;
  verdict: Writable;
}

/**
 * The bwrap side of the gate, over the sandbox's fds: init started the probe
 * beside the forwarders and it reads its spec on fd 7 (the first line was
 * written at spawn); it answers with one line on fd 6 (or init reports
 * `probe-exit N`). Other processes (bwrap itself) hold fd 6 open too, so the
 * line, not EOF, ends the report. The launch releases the bottle (fd 8) only
 * after `verify` passed.
 */
export function bwrapProbe(opts: {
  pipes: ProbePipes;
  exited: Promise<number>;
  caPem: string;
  hostProcessMarkers: string[];
  seccomp: boolean;
}): ProbeInside {
  const { pipes } = opts;
  return {
    expect: { interfaces: ['lo'], routes: false, seccomp: opts.seccomp },
    caPem: opts.caPem,
    hostProcessMarkers: opts.hostProcessMarkers,
    finish: (late) =>
      new Promise<string>((resolve, reject) => {
        let buffered = '';
        let other = '';
        const finish = (fn: () => void): void => {
          pipes.report.off('data', onData);
          // Keep draining: init may still write `probe-exit`, and a closed pipe would kill it (SIGPIPE).
          pipes.report.resume();
          fn();
        };
        const onData = (chunk: Buffer): void => {
          buffered += chunk.toString('utf8');
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.startsWith('{')) return finish(() => resolve(line));
            const exit = /^probe-exit (\d+)$/.exec(line);
            if (exit) return finish(() => reject(new Error(`the probe exited with status ${exit[1]}${other ? `: ${other.trim().slice(0, 500)}` : ''}`)));
            if (line.startsWith('probe-error ')) return finish(() => reject(new Error(`the probe failed: ${line.slice(12, 512)}`)));
            if (other.length < 4_000) other += `${line}\n`;
          }
          if (buffered.length > MAX_REPORT_BYTES) finish(() => reject(new Error(`the probe's report is over ${MAX_REPORT_BYTES} bytes`)));
        };
        pipes.report.on('data', onData);
        void opts.exited.then((code) => finish(() => reject(new Error(`the bottle exited (status ${code}) before the probe reported`))));
        pipes.spec.end(`${late}\n`);
      }),
  };
}

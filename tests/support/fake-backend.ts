import type { Backend, BundleStart, GuestSpec } from '../../src/backends/types.js';
import type { ProbeInside } from '../../src/containment/gate.js';

/**
 * An in-memory backend for the launch sequence (like the MCP SDK's in-memory
 * transport): nothing runs, but every resource it "creates" is tracked and
 * registers its undo the way a real boundary must, so a test can see the
 * order of the steps, what is still alive after an unwind, and everything
 * the orchestrator handed the boundary.
 */
export const FAKE_STEPS = ['boundary', 'endpoints', 'materialise', 'bundle.start', 'bundle.ready', 'guest.start', 'guest.trust', 'guest.probe', 'guest.release'] as const;
export type FakeStep = (typeof FAKE_STEPS)[number];

export interface FakeBackendOptions {
  /** The CA the fake bundle "minted" (a real certificate: the gate parses it). */
  caPem: string;
  /** Throw (or reject) at this step. */
  failAt?: FakeStep;
  /** This resource's undo throws. */
  failUndo?: string;
  /** What the guest's probe hands the gate (default: a finish that reports nothing). */
  inside?: (ready: { caPem: string; hostProcessMarkers: string[] }) => ProbeInside;
  /** Called when the guest starts, with the probe's first spec line (undefined without the check). */
  onStart?: (probeSpec: string | undefined) => void;
}

export interface FakeRecord {
  events: string[];
  /** Resources created and not undone yet. */
  alive: Set<string>;
  bundleStarts: BundleStart[];
  guestSpecs: GuestSpec[];
  /** The "process" the fake bundle host ran: its argv and environment (secrets went to `secretsChannel`). */
  bundleProcess?: { argv: string[]; env: Record<string, string> };
  secretsChannel?: Record<string, string>;
  released: boolean;
}

export class InjectedFailure extends Error {
  override name = 'InjectedFailure';
}

export function fakeBackend(opts: FakeBackendOptions): { backend: Backend; record: FakeRecord } {
  const record: FakeRecord = { events: [], alive: new Set(), bundleStarts: [], guestSpecs: [], released: false };
  const step = (name: FakeStep): void => {
    record.events.push(name);
    if (opts.failAt === name) throw new InjectedFailure(`injected failure at ${name}`);
  };
  const create = (name: string, defer: (label: string, fn: () => unknown) => void): void => {
    record.alive.add(name);
    defer(`fake ${name}`, () => {
      record.events.push(`undo ${name}`);
      // A resource whose undo failed may well still exist.
      if (opts.failUndo === name) throw new Error(`undo of ${name} failed`);
      record.alive.delete(name);
    });
  };
  const refuse = (): Promise<never> => Promise.reject(new Error('fake'));
  // The bundle takes its time: it is ready only once the guest has started (or a moment later, so that a
  // sequence that waits for the bundle first shows up as the wrong order, not as a hang).
  let guestStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (guestStarted = resolve));
  const backend: Backend = {
    name: 'bwrap',
    availability: () => Promise.resolve({ available: true, reason: 'fake' }),
    boundary(_plan, ctx) {
      step('boundary');
      const defer = ctx.teardown.defer.bind(ctx.teardown);
      create('run folder', defer);
      return Promise.resolve({
        sidecars: {
          async start(start) {
            record.bundleStarts.push(start);
            step('bundle.start');
            // As a host process: the config's path on argv, the knobs as env, the secrets through their channel.
            record.bundleProcess = { argv: ['node', 'sidecars.js', '--config', '/run/sidecars.json'], env: { ...start.settings } };
            record.secretsChannel = { ...start.secrets };
            create('bundle', start.teardown.defer.bind(start.teardown));
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([started, new Promise<void>((resolve) => (timer = setTimeout(resolve, 200)))]);
            clearTimeout(timer);
            step('bundle.ready');
            return { caPem: opts.caPem, died: new Promise<string>(() => undefined), hostProcessMarkers: ['/run/sidecars.json'] };
          },
        },
        endpoints({ gitGate }) {
          step('endpoints');
          return {
            listen: { egress: { socket: '/run/egress.sock' }, supervise: { socket: '/run/supervise.sock' }, gitGate: { socket: '/run/git-gate.sock' }, superviseHosts: ['127.0.0.1:8419'] },
            caCertOut: '/run/ca.pem',
            guest: { proxyUrl: 'http://127.0.0.1:3128', superviseUrl: 'http://127.0.0.1:8419/mcp', ...(gitGate ? { gitGateUrl: 'http://127.0.0.1:8418' } : {}) },
            probe: { proxy: { host: '127.0.0.1', port: 3128 }, endpoints: [{ host: '127.0.0.1', port: 3128 }] },
          };
        },
        materialise(spec) {
          record.guestSpecs.push(spec);
          step('materialise');
          create('guest files', defer);
          return Promise.resolve({
            start(probeSpec) {
              step('guest.start');
              create('guest', defer);
              guestStarted();
              if (probeSpec === undefined) opts.onStart?.(undefined);
              else void probeSpec.then((s) => opts.onStart?.(s), () => undefined);
              return Promise.resolve({
                exited: Promise.resolve(0),
                trust: () => Promise.resolve(step('guest.trust')),
                probe: (ready) => {
                  step('guest.probe');
                  return opts.inside?.(ready) ?? { expect: { interfaces: ['lo'], routes: false, seccomp: false }, caPem: ready.caPem, hostProcessMarkers: ready.hostProcessMarkers, finish: () => Promise.resolve('{}') };
                },
                release: () => {
                  step('guest.release');
                  record.released = true;
                  return Promise.resolve();
                },
              });
            },
          });
        },
      });
    },
    exec: refuse,
    attach: refuse,
    stop: refuse,
    list: () => Promise.resolve([]),
  };
  return { backend, record };
}

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/context.js';
import type { ProbeInside } from '../../src/containment/gate.js';
import { PROBE_BUNDLE } from '../../src/containment/guest.js';
import { launchPlan } from '../../src/launch/launch.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import { makeUpstreamPki } from '../egress/support.js';
import { fakeBackend } from '../support/fake-backend.js';
import { tempHome, type TempHome } from '../support/home.js';

/**
 * The gate's contract with a backend, through fake backends: a backend only
 * runs the probe inside and starts the agent when `verify` resolves; the
 * launcher judges, records, and refuses a backend that skips the check.
 * The last case runs the real probe with no sandbox at all, the worst
 * "boundary" a broken runtime could give.
 */
const PROBE = join(import.meta.dirname, '..', '..', 'dist', PROBE_BUNDLE);
const TOKEN = 'ghp_fakeTokenValueForTheGateTest000000001';

let caPem: string;
let h: TempHome;
beforeAll(async () => {
  caPem = (await makeUpstreamPki(['x.test'])).caPem;
});
afterEach(() => h?.cleanup());

function setup(): { ctx: CliContext; stderr: () => string } {
  h = tempHome();
  h.writeBottle('b', 'agent_provider: {template: shell}\negress:\n  routes:\n    - host: api.example.test\n      auth: {scheme: Bearer, token_ref: GATE_TOKEN}');
  h.writeAgent('a', 'bottle: b');
  let err = '';
  const ctx: CliContext = { home: h.home, cwd: h.cwd, env: { PATH: process.env.PATH, GATE_TOKEN: TOKEN }, stdout: () => undefined, stderr: (t) => (err += t), isTTY: false };
  return { ctx, stderr: () => err };
}

function plan(ctx: CliContext, containmentCheck = true) {
  return resolvePlan(new ManifestCatalog({ home: ctx.home, cwd: ctx.cwd, userHome: h.userHome }), {
    agent: 'a', bottles: [], backend: 'bwrap', backendReason: 'test', slug: 'gate', cwd: ctx.cwd, copyCwd: false,
    mode: { kind: 'headless', prompt: 'true' }, home: ctx.home, hostEnv: ctx.env, containmentCheck,
  });
}

const inside = (finish: ProbeInside['finish']): ProbeInside => ({
  expect: { interfaces: ['lo'], routes: false, seccomp: false },
  caPem,
  hostProcessMarkers: [],
  finish,
});

interface Stored {
  result: string;
  checks: Array<{ id: string; status: string; detail: string }>;
}
const stored = (): Stored => JSON.parse(readFileSync(join(h.home, 'state', 'gate', 'containment.json'), 'utf8')) as Stored;

describe('containment gate', () => {
  it('runs the check for every backend: the agent is released only after the gate passed', async () => {
    const { ctx } = setup();
    const fake = fakeBackend({ caPem, inside: () => inside(() => Promise.resolve('node: bad option: --x')) });
    await expect(launchPlan(plan(ctx), fake.backend, ctx, { confirm: false })).rejects.toThrow(/containment check failed/);
    expect(fake.record.events).toContain('guest.probe');
    expect(fake.record.released).toBe(false);
    expect([...fake.record.alive]).toEqual([]);
  });

  it("asks the probe to verify the leaf egress mints first (the model API's, with injected auth), not the first route listed", async () => {
    const { ctx } = setup();
    h.writeBottle('b', 'agent_provider: {template: shell}\negress:\n  routes:\n    - host: docs.example.test\n    - host: api.example.test\n      auth: {scheme: Bearer, token_ref: GATE_TOKEN}');
    let probeSpec: string | undefined;
    const fake = fakeBackend({ caPem, onStart: (spec) => (probeSpec = spec), inside: () => inside(() => Promise.resolve('node: bad option: --x')) });
    await expect(launchPlan(plan(ctx), fake.backend, ctx, { confirm: false })).rejects.toThrow(/containment check failed/);
    expect(JSON.parse(probeSpec ?? '{}')).toMatchObject({ ca: { leafFor: { host: 'api.example.test', port: 443 } } });
  });

  it('refuses when the probe cannot report, and records why', async () => {
    const { ctx } = setup();
    const fake = fakeBackend({ caPem, inside: () => inside(() => Promise.resolve('node: bad option: --x')) });
    await expect(launchPlan(plan(ctx), fake.backend, ctx, { confirm: false })).rejects.toThrow(/containment check failed.*\n.*the probe could not run: the probe did not report: "node: bad option/);
    expect(fake.record.events).toContain('undo guest');
    expect(stored().result).toBe('failed');
  });

  it('with --no-containment-check asks the backend for nothing, warns, and records the skip', async () => {
    const { ctx, stderr } = setup();
    let probeSpec: string | undefined = 'not started';
    const fake = fakeBackend({ caPem, onStart: (spec) => (probeSpec = spec) });
    expect(await launchPlan(plan(ctx, false), fake.backend, ctx, { confirm: false })).toBe(0);
    expect(fake.record.guestSpecs[0]?.probe).toBe(false);
    expect(probeSpec).toBeUndefined();
    expect(fake.record.events).not.toContain('guest.probe');
    expect(stderr()).toContain('WARNING: --no-containment-check');
    expect(stored()).toMatchObject({ result: 'skipped' });
  });

  it('fails every host-facing check when the real probe runs with no boundary at all', async () => {
    const { ctx } = setup();
    let reported = '';
    // As a runtime that silently ran the "bottle" on the host would, token value in its environment included.
    const child = spawn(process.execPath, [PROBE], { env: { LEAKED: TOKEN }, stdio: ['pipe', 'pipe', 'inherit'] });
    const report = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', (line) => resolve((reported = line)));
      child.once('error', reject);
    });
    const fake = fakeBackend({
      caPem,
      onStart: (spec) => child.stdin.write(`${spec ?? ''}\n`),
      inside: () =>
        inside((late) => {
          child.stdin.end(`${late}\n`);
          return report;
        }),
    });
    const failure = launchPlan(plan(ctx), fake.backend, ctx, { confirm: false });
    await expect(failure).rejects.toThrow(/containment check failed/);
    expect(reported.startsWith('{')).toBe(true);
    const failed = Object.fromEntries(stored().checks.filter((c) => c.status === 'failed').map((c) => [c.id, c.detail]));
    expect(failed['host-loopback']).toMatch(/connected/);
    expect(failed.endpoints).toMatch(/listeners besides the bundle's/);
    expect(failed.proxy).toBeDefined();
    expect(failed['ca-trust']).toContain('does not hold the bottle CA');
    expect(failed.secrets).toMatch(/token slot EGRESS_TOKEN_\d+ \(\$GATE_TOKEN\) in \/proc\/\d+\/environ/);
    expect(failed.secrets).not.toContain(TOKEN);
    expect(failed.processes).toMatch(/host processes are visible/);
    if (process.getuid?.() === 0) expect(failed.privileges).toContain('host root');
    expect(fake.record.events).toContain('undo guest');
    expect(existsSync(join(h.home, 'state', 'gate', 'metadata.json'))).toBe(true);
  });
});

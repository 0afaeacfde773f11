import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/context.js';
import type { ContainmentGate, ProbeInside } from '../../src/containment/gate.js';
import { launchPlan } from '../../src/launch/launch.js';
import { launchBottle } from '../../src/launch/orchestrate.js';
import { prepareState } from '../../src/launch/prepare.js';
import { resolveSecrets } from '../../src/launch/secrets.js';
import { TeardownStack, type TeardownFailure } from '../../src/launch/teardown.js';
import { ManifestCatalog } from '../../src/manifest/catalog.js';
import { resolvePlan } from '../../src/plan/resolve.js';
import type { BottlePlan } from '../../src/plan/types.js';
import { bottleStatePaths } from '../../src/state/paths.js';
import { makeUpstreamPki } from '../egress/support.js';
import { FAKE_STEPS, fakeBackend, InjectedFailure, type FakeBackendOptions, type FakeStep } from '../support/fake-backend.js';
import { tempHome, type TempHome } from '../support/home.js';

/**
 * The launch sequence's contract with every backend, run against the
 * in-memory backend: the order of the steps, the unwinding when any step
 * fails, and where secrets may and may not go.
 */
const TOKEN = ['ghp', 'contractTokenValue', '0123456789abcdefghij'].join('_');
const SENSITIVE = 'sensitive-host-value-0123456789';
const AGENT_SECRET = 'agent-env-value-0123456789';

let caPem: string;
let h: TempHome;
beforeAll(async () => {
  caPem = (await makeUpstreamPki(['x.test'])).caPem;
});
afterEach(() => h?.cleanup());

const hostEnv = { PATH: process.env.PATH, CONTRACT_TOKEN: TOKEN, BOT_BOTTLE_SENSITIVE_PREFIXES: 'MY_SECRET_', MY_SECRET_X: SENSITIVE, AGENT_VALUE: AGENT_SECRET };

function makePlan(containmentCheck: boolean): BottlePlan {
  h = tempHome();
  h.writeBottle('b', 'agent_provider: {template: shell}\nenv:\n  GIVEN: "${AGENT_VALUE}"\negress:\n  routes:\n    - host: api.example.test\n      auth: {scheme: Bearer, token_ref: CONTRACT_TOKEN}');
  h.writeAgent('a', 'bottle: b');
  return resolvePlan(new ManifestCatalog({ home: h.home, cwd: h.cwd, userHome: h.userHome }), {
    agent: 'a', bottles: [], backend: 'bwrap', backendReason: 'test', slug: 'contract', cwd: h.cwd, copyCwd: false,
    mode: { kind: 'headless', prompt: 'true' }, home: h.home, hostEnv, containmentCheck,
  });
}

/** A gate that records its calls and asks the guest's probe, as the real one does. */
function recordingGate(events: string[], fail?: 'containment.begin' | 'containment.verify'): ContainmentGate {
  let verified = false;
  return {
    enabled: true,
    get verified() {
      return verified;
    },
    begin() {
      events.push('containment.begin');
      if (fail === 'containment.begin') return Promise.reject(new InjectedFailure('injected failure at containment.begin'));
      return Promise.resolve('{"early":true}');
    },
    async verify(inside: ProbeInside) {
      events.push('containment.verify');
      await inside.finish('{"late":true}');
      if (fail === 'containment.verify') throw new InjectedFailure('injected failure at containment.verify');
      verified = true;
    },
    dispose() {
      events.push('containment.dispose');
      return Promise.resolve();
    },
  };
}

async function orchestrate(opts: Omit<FakeBackendOptions, 'caPem'> & { gateFails?: 'containment.begin' | 'containment.verify' } = {}) {
  const plan = makePlan(true);
  const secrets = await resolveSecrets(plan, { hostEnv });
  await prepareState(plan, h.home, h.cwd);
  const fake = fakeBackend({ caPem, ...opts });
  const logs: string[] = [];
  const failures: TeardownFailure[] = [];
  const stack = new TeardownStack((f) => failures.push(f));
  const containment = recordingGate(fake.record.events, opts.gateFails);
  const run = stack.guard((teardown) => launchBottle(plan, fake.backend, { teardown, secrets, log: (m) => logs.push(m), home: h.home, hostEnv, interactive: false, containment }));
  return { plan, fake, logs, failures, stack, run };
}

describe('the launch sequence', () => {
  it('runs the steps in order: bundle and guest start side by side, the agent is released last', async () => {
    const { fake, stack, run } = await orchestrate();
    const running = await run;
    expect(await running.exited).toBe(0);
    expect(fake.record.events).toEqual([
      'boundary',
      'endpoints',
      'materialise',
      'containment.begin',
      'guest.start', // not awaited: the bundle starts while the guest does
      'bundle.start',
      'bundle.ready',
      'guest.trust',
      'guest.probe',
      'containment.verify',
      'guest.release',
    ]);
    expect(fake.record.guestSpecs[0]?.probe).toBe(true);
    await stack.unwind();
    expect([...fake.record.alive]).toEqual([]);
    expect(stack.size).toBe(0);
  });

  const steps: Array<FakeStep | 'containment.begin' | 'containment.verify'> = [...FAKE_STEPS, 'containment.begin', 'containment.verify'];
  for (const failAt of steps) {
    it(`unwinds everything when ${failAt} fails, and the original error surfaces`, async () => {
      const gate = failAt === 'containment.begin' || failAt === 'containment.verify' ? failAt : undefined;
      const { fake, stack, run } = await orchestrate(gate ? { gateFails: gate } : { failAt: failAt as FakeStep });
      const error = await run.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InjectedFailure);
      expect((error as Error).message).toBe(`injected failure at ${failAt}`);
      expect([...fake.record.alive]).toEqual([]);
      expect(stack.size).toBe(0);
      expect(fake.record.released).toBe(false);
    });
  }

  it('keeps the original error when an undo fails too, and still runs every other undo', async () => {
    const { fake, failures, run } = await orchestrate({ failAt: 'guest.trust', failUndo: 'bundle' });
    const error = await run.catch((e: unknown) => e);
    expect((error as Error).message).toBe('injected failure at guest.trust');
    expect(failures.map((f) => f.label)).toEqual(['fake bundle']);
    expect((error as { teardownFailures?: TeardownFailure[] }).teardownFailures?.map((f) => f.label)).toEqual(['fake bundle']);
    expect([...fake.record.alive]).toEqual(['bundle']);
    expect(fake.record.events.filter((e) => e.startsWith('undo '))).toEqual(['undo bundle', 'undo guest', 'undo guest files', 'undo run folder']);
  });

  it('hands secrets to the bundle only through its secrets channel, never its argv, env, config, the guest, logs or the plan', async () => {
    const { plan, fake, logs, stack, run } = await orchestrate();
    await run;
    const start = fake.record.bundleStarts[0];
    const spec = fake.record.guestSpecs[0];
    // Where they must be (so the negative checks below could fail).
    expect(fake.record.secretsChannel).toMatchObject({ EGRESS_TOKEN_0: TOKEN, MY_SECRET_X: SENSITIVE });
    expect(spec?.setup.env.GIVEN).toBe(AGENT_SECRET);
    for (const secret of [TOKEN, SENSITIVE]) {
      expect(JSON.stringify(fake.record.bundleProcess?.argv)).not.toContain(secret);
      expect(JSON.stringify(start?.settings)).not.toContain(secret);
      expect(JSON.stringify(start?.config)).not.toContain(secret);
      expect(JSON.stringify(spec)).not.toContain(secret);
      expect(logs.join('\n')).not.toContain(secret);
      expect(JSON.stringify(plan)).not.toContain(secret);
    }
    // The bundle has no use for the agent's own values.
    expect(JSON.stringify(start)).not.toContain(AGENT_SECRET);
    expect(start?.settings.BOT_BOTTLE_SENSITIVE_PREFIXES).toBe('MY_SECRET_');
    await stack.unwind();
  });
});

describe('launchPlan around the sequence', () => {
  function cliContext(): CliContext & { err: () => string } {
    let stderr = '';
    return { home: h.home, cwd: h.cwd, env: hostEnv, stdout: () => undefined, stderr: (t) => (stderr += t), isTTY: false, err: () => stderr };
  }

  it('removes what a failed start created and surfaces the original error, with no secret in what it printed', async () => {
    const plan = makePlan(false);
    const ctx = cliContext();
    const fake = fakeBackend({ caPem, failAt: 'bundle.ready' });
    const error = await launchPlan(plan, fake.backend, ctx, { confirm: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InjectedFailure);
    expect([...fake.record.alive]).toEqual([]);
    expect(existsSync(bottleStatePaths('contract', h.home).dir)).toBe(false);
    expect(ctx.err()).not.toContain(TOKEN);
    expect(ctx.err()).not.toContain(SENSITIVE);
  });

  it('resolves secrets and creates state before the boundary, and tears it all down when the agent ends', async () => {
    const plan = makePlan(false);
    const ctx = cliContext();
    let stateThere = false;
    const fake = fakeBackend({ caPem, onStart: () => (stateThere = existsSync(bottleStatePaths('contract', h.home).metadata)) });
    expect(await launchPlan(plan, fake.backend, ctx, { confirm: false })).toBe(0);
    expect(stateThere).toBe(true);
    expect(fake.record.secretsChannel?.EGRESS_TOKEN_0).toBe(TOKEN);
    expect([...fake.record.alive]).toEqual([]);
    expect(fake.record.events).not.toContain('guest.probe');
    expect(fake.record.released).toBe(true);
    expect(ctx.err()).not.toContain(TOKEN);
  });
});

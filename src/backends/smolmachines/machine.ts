import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import type { TeardownStack } from '../../launch/teardown.js';
import {
  createArgs,
  deleteArgs,
  egressEventsArgs,
  execArgs,
  listArgs,
  smolvmOk,
  SmolvmError,
  startArgs,
  stopArgs,
  type CreateSpec,
  type SmolvmResult,
  type SmolvmRun,
} from './smolvm.js';

/**
 * A bottle's microVM, one smolvm call per step. Each step that makes
 * something registers its undo on the launch's TeardownStack as soon as the
 * thing exists, so a failure anywhere after it unwinds it (stop, then
 * `delete -f`, in reverse).
 */
export interface MachineDeps {
  run: SmolvmRun;
  log: (message: string) => void;
}

export interface ReadinessOptions {
  /** How many `exec true` tries (default 20). */
  attempts?: number;
  /** Between tries (default 250 ms): a poll interval, bounded by `attempts`. */
  intervalMs?: number;
}

/** create -> start -> ready, each undo registered the moment its resource exists. */
export async function bringUpMachine(stack: TeardownStack, deps: MachineDeps, spec: CreateSpec, readiness: ReadinessOptions = {}): Promise<void> {
  await smolvmOk(deps.run, createArgs(spec));
  // delete -f stops a running machine first, so this one undo also covers a start that half-worked.
  stack.defer(`smolvm machine ${spec.name}`, () => deleteMachine(deps.run, spec.name));
  await smolvmOk(deps.run, startArgs(spec.name));
  stack.defer(`stop smolvm machine ${spec.name}`, () => stopMachine(deps.run, spec.name));
  await waitReady(deps, spec.name, readiness);
}

/**
 * `machine start` returns once the guest agent answers; exec can still
 * fail for a moment after (the seed saw the first execs SIGKILLed), so
 * readiness is a bounded retry of `exec true`, never a fixed sleep.
 */
export async function waitReady(deps: MachineDeps, name: string, opts: ReadinessOptions = {}): Promise<number> {
  const attempts = opts.attempts ?? 20;
  const intervalMs = opts.intervalMs ?? 250;
  let last: SmolvmResult | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    last = await deps.run(execArgs(name, ['true'], { timeoutSeconds: 10 }));
    if (last.exitCode === 0) return attempt;
    if (attempt < attempts) await delay(intervalMs);
  }
  const why = last?.stderr.trim().split('\n').slice(-2).join(' / ') || `exit ${last?.exitCode ?? '?'}`;
  throw new SmolvmError(`smolvm machine ${name} did not run \`true\` after ${attempts} tries: ${why}`, last?.exitCode ?? 1, last?.stderr ?? '');
}

/**
 * One provisioning step: `script` piped into `sh -s` (`-i`, so stdin reaches
 * the guest). Exit 137 is how smolvm reports a dropped exec channel (and
 * the seed's early-exec SIGKILL): the step is retried once, then fails.
 * Steps must therefore be safe to run twice.
 */
export async function runStep(deps: MachineDeps, name: string, step: string, script: string): Promise<SmolvmResult> {
  const args = execArgs(name, ['sh', '-s'], { stdin: true });
  const input = `set -eu\n${script}`;
  let result = await deps.run(args, { input });
  if (result.exitCode === 137) {
    deps.log(`bot-bottle: provisioning step "${step}" in ${name} was killed (exit 137: ${result.stderr.trim().slice(0, 80) || 'no message'}); retrying once`);
    result = await deps.run(args, { input });
  }
  if (result.exitCode !== 0) {
    const why = result.stderr.trim().split('\n').slice(-4).join(' / ') || `exit ${result.exitCode}`;
    throw new SmolvmError(`provisioning step "${step}" failed in smolvm machine ${name} (exit ${result.exitCode}): ${why}`, result.exitCode, result.stderr.trim());
  }
  return result;
}

const PEM = /^(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?)+$/;
const GUEST_CA_SOURCE = '/usr/local/share/ca-certificates/bot-bottle.crt';

/**
 * The bottle's CA into the guest's trust store (and at `caFile` for the
 * agent's own variables). update-ca-certificates must say it added exactly
 * our certificate: a step killed half-way used to leave the store without
 * it and fail every TLS request later, far from the cause.
 */
export async function installCa(deps: MachineDeps, name: string, pem: string, caFile: string): Promise<void> {
  const cert = pem.endsWith('\n') ? pem : `${pem}\n`;
  if (!PEM.test(cert)) throw new SmolvmError('the bottle CA is not a PEM certificate', 2);
  if (!/^\/[A-Za-z0-9._/-]+$/.test(caFile)) throw new SmolvmError(`${caFile} is not a plain absolute path`, 2);
  const script = [
    `mkdir -p /usr/local/share/ca-certificates "$(dirname ${caFile})"`,
    // A retried step must add the certificate again, not find it present ("0 added"): drop its link too.
    `rm -f ${GUEST_CA_SOURCE} /etc/ssl/certs/bot-bottle.pem`,
    `cat > ${GUEST_CA_SOURCE} <<'BOT_BOTTLE_CA'`,
    cert.trimEnd(),
    'BOT_BOTTLE_CA',
    `chmod 644 ${GUEST_CA_SOURCE}`,
    `cp ${GUEST_CA_SOURCE} ${caFile}`,
    `chmod 644 ${caFile}`,
    'update-ca-certificates 2>&1',
    '',
  ].join('\n');
  const result = await runStep(deps, name, 'install the bottle CA', script);
  if (!/\b1 added\b/.test(result.stdout)) {
    const said = result.stdout.trim().split('\n').slice(-2).join(' / ') || '(nothing)';
    throw new SmolvmError(`installing the bottle CA in smolvm machine ${name}: update-ca-certificates did not report the certificate added (it said: ${said})`, 1, result.stdout);
  }
}

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const PATH = /^\/[A-Za-z0-9._/-]+$/;

/**
 * The agent's home belongs to the agent user: packing maps the image's
 * ownership to the packing user, and `--from` machines run as root.
 */
export async function ownHome(deps: MachineDeps, name: string, user: string, home: string): Promise<void> {
  if (!USER.test(user) || !PATH.test(home) || home.split('/').includes('..')) throw new SmolvmError(`refusing to chown ${home} to ${user}`, 2);
  const result = await runStep(deps, name, 'give the home to the agent user', `mkdir -p ${home}\nchown -R ${user}:${user} ${home}\nstat -c %U:%G ${home}\n`);
  if (result.stdout.trim().split('\n').pop() !== `${user}:${user}`) {
    throw new SmolvmError(`${home} in smolvm machine ${name} is owned by ${result.stdout.trim().slice(0, 40)}, not ${user}`, 1);
  }
}

/** Idempotent: a stopped or unknown machine counts as stopped. */
export async function stopMachine(run: SmolvmRun, name: string): Promise<void> {
  const result = await run(stopArgs(name));
  if (result.exitCode === 0 || /vm not found/i.test(result.stderr)) return;
  throw new SmolvmError(`smolvm machine stop --name ${name} failed (exit ${result.exitCode}): ${result.stderr.trim()}`, result.exitCode, result.stderr.trim());
}

/** Idempotent; a `Cancelled` (a smolvm that ignored -f) is a failure, not a deletion. */
export async function deleteMachine(run: SmolvmRun, name: string): Promise<void> {
  const result = await run(deleteArgs(name));
  if (result.exitCode !== 0) {
    if (/vm not found/i.test(result.stderr)) return;
    throw new SmolvmError(`smolvm machine delete --name ${name} -f failed (exit ${result.exitCode}): ${result.stderr.trim()}`, result.exitCode, result.stderr.trim());
  }
  if (/\bCancelled\b/.test(result.stdout)) throw new SmolvmError(`smolvm machine delete --name ${name} -f answered "Cancelled": the machine still exists`, 1, result.stdout);
}

const MachineInfo = z.object({ name: z.string(), state: z.string(), pid: z.number().nullable().optional() }).passthrough();
export type MachineInfo = z.infer<typeof MachineInfo>;

export async function listMachines(run: SmolvmRun): Promise<MachineInfo[]> {
  const result = await smolvmOk(run, listArgs());
  return parseJson(z.array(MachineInfo), result.stdout, 'smolvm machine ls --json');
}

/** A connection the guest's policy refused (smolvm 1.9.3: `dest` is `ip:port`; `operation` connect or sendto): an audit source. */
const EgressEvent = z.object({ timestamp: z.string(), operation: z.string(), dest: z.string() }).passthrough();
export type EgressEvent = z.infer<typeof EgressEvent>;

export async function readEgressEvents(run: SmolvmRun, name: string): Promise<EgressEvent[]> {
  const result = await smolvmOk(run, egressEventsArgs(name));
  return parseJson(z.array(EgressEvent), result.stdout, `smolvm machine egress-events --name ${name}`);
}

function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SmolvmError(`${what} did not print JSON: ${text.trim().slice(0, 120)}`, 1);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new SmolvmError(`${what} printed JSON of an unknown shape: ${parsed.error.issues[0]?.message ?? ''}`, 1);
  return parsed.data;
}

/**
 * `cleanup`/`stop` after a dead launch: the bottle's machine, found by the
 * name its slug maps to (never by guessing), stopped and deleted; absent
 * counts as done. Returns whether one was there.
 */
export async function removeBottleMachine(run: SmolvmRun, name: string): Promise<boolean> {
  const present = (await listMachines(run)).some((m) => m.name === name);
  if (present) await deleteMachine(run, name);
  return present;
}

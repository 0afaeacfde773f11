import { cliGone, launchingCli, signalLaunchingCli } from '../../state/launching-cli.js';
import { assertSlug } from '../../plan/slug.js';
import { knownSlugs, readMetadata } from '../../state/metadata.js';
import { listBottleResources, removeBottleResources } from '../docker/resources.js';
import type { BottleStatus, StopReport } from '../types.js';
import { listMachines, removeBottleMachine } from './machine.js';
import { machineNameFor, type SmolvmRun } from './smolvm.js';

/**
 * list, stop and cleanup for smolmachines bottles. A bottle is its state
 * folder (metadata, the launching CLI's pids record), its machine (found by
 * the name its slug maps to, never by guessing) and its bundle's container
 * and networks (the docker slug label). The CLI's liveness comes from the
 * pids record with identity checks, never from a bare pid.
 */

function smolSlugs(home: string): string[] {
  return knownSlugs(home).filter((slug) => {
    try {
      return readMetadata(home, slug).backend === 'smolmachines';
    } catch {
      return false; // damaged state: `list active` reports it on its own
    }
  });
}

export async function listSmolmachines(run: SmolvmRun, home: string): Promise<BottleStatus[]> {
  const slugs = smolSlugs(home);
  if (slugs.length === 0) return [];
  const machines = await listMachines(run).catch(() => undefined);
  return slugs.map((slug) => {
    const cli = launchingCli(slug, home).state;
    const machine = machines?.find((m) => m.name === machineNameFor(slug));
    let detail: string | undefined;
    if (typeof cli === 'object') detail = cli.problem;
    else if (cli === 'alive') detail = machine ? `machine ${machine.name} ${machine.state}` : 'starting or stopping';
    else if (machine) detail = `its CLI is gone, machine ${machine.name} is left: \`bot-bottle cleanup\` removes it`;
    if (machines === undefined) detail = `${detail === undefined ? '' : `${detail}; `}smolvm did not list its machines`;
    return { slug, backend: 'smolmachines', running: cli === 'alive' || machine?.state === 'running', ...(detail !== undefined ? { detail } : {}) };
  });
}

/** How long the owning CLI gets to tear down before `stop` removes the bottle's machine and bundle itself. */
const CLI_GRACE_MS = 20_000;

/**
 * Stop a smolmachines bottle from another process: the CLI that owns it is
 * asked first (SIGTERM, identity-checked) and tears everything down; what is
 * left (the CLI crashed or hangs) is removed directly.
 */
export async function stopSmolmachines(run: SmolvmRun, slug: string, home: string): Promise<StopReport> {
  assertSlug(slug);
  const asked = signalLaunchingCli(slug, home);
  const { notes, pids } = asked;
  let incomplete = asked.incomplete;
  const cliSignalled = asked.signalled;
  if (cliSignalled && !(await cliGone(pids, CLI_GRACE_MS))) {
    notes.push(`the launching CLI of ${slug} (pid ${pids?.cli?.pid}) is still running`);
    incomplete = true;
  }
  const left = await removeLeftovers(run, slug);
  for (const failure of left.failures) notes.push(`${slug}: ${failure}`);
  if (left.failures.length > 0) incomplete = true;
  return { wasRunning: cliSignalled || left.machine, notes, incomplete };
}

/**
 * A bottle's machine, bundle container and networks, whatever is left of
 * them; every step is tried and the failures are returned one line each.
 */
export async function removeLeftovers(run: SmolvmRun, slug: string): Promise<{ machine: boolean; failures: string[] }> {
  const failures: string[] = [];
  let machine = false;
  try {
    machine = await removeBottleMachine(run, machineNameFor(slug));
  } catch (error) {
    failures.push(`machine ${machineNameFor(slug)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    const resources = (await listBottleResources()).get(slug);
    if (resources !== undefined) failures.push(...(await removeBottleResources(resources)));
  } catch (error) {
    failures.push(`docker: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { machine, failures };
}

/** Bottles of this home whose launching CLI is gone (its record says so) and that left a machine. */
export async function smolmachinesOrphans(run: SmolvmRun, home: string): Promise<string[]> {
  const slugs = smolSlugs(home).filter((slug) => launchingCli(slug, home).state === 'gone');
  if (slugs.length === 0) return [];
  const machines = new Set((await listMachines(run)).map((m) => m.name));
  const docker = await listBottleResources();
  return slugs.filter((slug) => machines.has(machineNameFor(slug)) || docker.has(slug));
}


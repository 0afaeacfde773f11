import { removeSnapshot } from '../../backends/docker/lifecycle.js';
import { ownedResources } from '../../backends/docker/operations.js';
import { launchingCli } from '../../state/launching-cli.js';
import { listBottleResources, removeBottleResources, type BottleResources } from '../../backends/docker/resources.js';
import { homeSnapshots } from '../../backends/docker/snapshot.js';
import { onPath, probe } from '../../backends/probe.js';
import { cancelExpiry, claimFiles, homeStandbys, removeStaleClaims, removeStandby } from '../../backends/docker/standby.js';
import { homePaths } from '../../state/paths.js';
import { CliError, type CliContext } from '../context.js';

export interface Step {
  describe: string;
  run: () => void | Promise<void>;
}

/**
 * What `cleanup` removes from the docker engine: the containers, networks
 * and firewall rule of a bottle whose launching CLI is gone (its pids record,
 * identity-checked, says so; a SIGKILLed launch leaves exactly these), and
 * the commit snapshots of this home's bottles whose state is deleted. The
 * engine is shared by every $BOT_BOTTLE_HOME: only resources that mount this
 * home's bottle's state folder count (operations.ts), and a bottle whose
 * CLI cannot be told alive or gone is reported, never touched.
 */
export class DockerCleanup {
  private constructor(
    private readonly ctx: CliContext,
    private readonly resources: Map<string, BottleResources>,
    private readonly snapshots: Array<{ slug: string; ref: string; id: string }>,
  ) {}

  /** Undefined when there is no docker engine here (nothing of docker to clean). */
  static async open(ctx: CliContext): Promise<DockerCleanup | undefined> {
    // Only whether an engine answers: what launching needs (root, the firewall) does not matter for removing.
    if (!onPath('docker') || !(await probe('docker', ['version', '--format', '{{.Server.Version}}'])).ok) return undefined;
    try {
      const [resources, snapshots] = await Promise.all([listBottleResources(), homeSnapshots(ctx.home)]);
      return new DockerCleanup(ctx, resources, snapshots);
    } catch (err) {
      ctx.stderr(`bot-bottle: docker resources are not checked: ${message(err)}\n`);
      return undefined;
    }
  }

  /** Steps for one bottle that is not running (its CLI and sandbox are gone per `cleanup`'s own check). */
  async orphanSteps(slug: string): Promise<Step[]> {
    if (!this.resources.has(slug)) return [];
    const { ctx } = this;
    const cli = launchingCli(slug, ctx.home).state;
    if (cli === 'alive') return [];
    if (cli !== 'gone') {
      const why = cli === 'unrecorded' ? 'no record of the CLI that launched it' : cli.problem;
      ctx.stderr(`bot-bottle: docker resources of ${slug} are not removed: ${why}, so it may still run (\`bot-bottle stop ${slug}\` ends it)\n`);
      return [];
    }
    let owned: Awaited<ReturnType<typeof ownedResources>>;
    try {
      owned = await ownedResources(slug, ctx.home, this.resources);
    } catch (err) {
      ctx.stderr(`bot-bottle: docker resources of ${slug} are not checked: ${message(err)}\n`);
      return [];
    }
    if (owned.foreign) ctx.stderr(`bot-bottle: the containers named ${slug} mount another home's state: not touched\n`);
    const found = owned.resources;
    if (found === undefined) return [];
    const what = [`${found.containers.length} container(s)`, `${found.networks.length} network(s)`, `${found.firewallRules.length} firewall rule(s)`].join(', ');
    return [{
      describe: `remove docker resources of ${slug} whose CLI is gone (${what})`,
      run: async () => {
        // Checked again: a `resume` may have started it while the operator confirmed.
        if (launchingCli(slug, ctx.home).state !== 'gone') {
          ctx.stderr(`bot-bottle: ${slug} was started again meanwhile: its docker resources are kept\n`);
          return;
        }
        let failures: string[];
        try {
          const now = (await ownedResources(slug, ctx.home)).resources;
          failures = now === undefined ? [] : await removeBottleResources(now);
        } catch (err) {
          failures = [message(err)];
        }
        if (failures.length > 0) throw new CliError(`could not remove everything of ${slug}:\n  ${failures.join('\n  ')}`);
      },
    }];
  }

  /**
   * The docker standbys waiting for this home's next launch (backends/docker/standby.ts): removed by every
   * cleanup, as the host standbys are stopped. A claimed one is its bottle's (orphanSteps).
   */
  async standbySteps(): Promise<Step[]> {
    const { ctx } = this;
    let ids: string[];
    try {
      ids = await homeStandbys(homePaths(ctx.home).stateRoot);
    } catch (err) {
      ctx.stderr(`bot-bottle: docker standbys are not checked: ${message(err)}
`);
      return [];
    }
    const stale = claimFiles(ctx.home).length;
    if (ids.length === 0 && stale === 0) return [];
    return [{
      describe: `remove the docker standby${ids.length === 1 ? '' : 's'} waiting for the next launch (${ids.length}: bundle, network holder, networks, firewall rule)`,
      run: async () => {
        const failures: string[] = [];
        for (const id of ids) {
          cancelExpiry(ctx.home, id);
          await removeStandby(id).catch((err: unknown) => failures.push(`${id}: ${message(err)}`));
        }
        await removeStaleClaims(ctx.home).catch((err: unknown) => failures.push(`claim files: ${message(err)}`));
        if (failures.length > 0) throw new CliError(`could not remove every docker standby:\n  ${failures.join('\n  ')}`);
      },
    }];
  }

  /** The snapshot of a bottle whose state this cleanup deletes. */
  snapshotSteps(slug: string): Step[] {
    return this.snapshots.filter((s) => s.slug === slug).map((s) => this.removal(s, `of ${slug}`));
  }

  /** Snapshots of this home's bottles whose state is already gone. */
  strandedSnapshotSteps(knownSlugs: readonly string[]): Step[] {
    return this.snapshots.filter((s) => !knownSlugs.includes(s.slug)).map((s) => this.removal(s, `of ${s.slug}, whose state is gone`));
  }

  private removal(snapshot: { slug: string; ref: string }, why: string): Step {
    return {
      describe: `remove commit snapshot ${snapshot.ref} ${why}`,
      run: () => removeSnapshot(snapshot.slug).catch((err: unknown) => {
        throw new CliError(`could not remove ${snapshot.ref}: ${message(err)}`);
      }),
    };
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

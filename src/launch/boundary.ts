import type { BoundaryPlan } from '../plan/boundary.js';
import type { ProbeInside, ProbeTargets } from '../containment/gate.js';
import type { BackendName, BottlePlan } from '../plan/types.js';
import type { GuestEndpoints, GuestSetup } from '../provision/guest.js';
import type { SidecarConfigFile, SidecarListeners } from './sidecar-config.js';
import type { TeardownStack } from './teardown.js';

/**
 * What a backend supplies to the one launch sequence (`orchestrate.ts`): its
 * boundary, nothing else. The orchestrator owns the order (plan → secrets →
 * state → bundle up → guest provisioned → containment self-test → agent
 * released → teardown); a backend says where the sidecar bundle runs
 * (`SidecarHost`), where the bundle's endpoints are, and how a guest is
 * materialised, started held, probed and released (`Boundary`, `HeldGuest`).
 * Every resource a backend creates registers its undo on the stack it is
 * given the moment it exists.
 */

/** Values resolved at launch that must never be written anywhere: env secrets and token slot values. */
export interface LaunchSecrets {
  /** Agent environment entries resolved from prompts and host variables. */
  agentEnv: Record<string, string>;
  /** EGRESS_TOKEN_* values, for the sidecar bundle only (its secrets channel, never its environment). */
  sidecarEnv: Record<string, string>;
}

/** Secret values only the bundle may hold, by name: token slots and the operator's sensitive host values. */
export type BundleSecrets = Record<string, string>;

/** What the orchestrator hands a `SidecarHost`. */
export interface BundleStart {
  /** The bundle's config; its listeners and CA path are the ones `Boundary.endpoints` gave. */
  config: SidecarConfigFile;
  /**
   * Token values and sensitive host values. A host hands them over only through a channel the bundle
   * alone can read (bwrap: a 0600 file in the run folder named by the config's `secretsFile`; docker: a
   * file mounted into the bundle's container only), never its environment, argv or the config itself.
   */
  secrets: BundleSecrets;
  /** Non-secret knobs for the bundle's environment (BOT_BOTTLE_*, timeouts, PATH, LANG). */
  settings: Record<string, string>;
  /** Where the bundle's log goes, on the host. */
  logFile: string;
  teardown: TeardownStack;
}

/** A bundle that reported ready. */
export interface ReadyBundle {
  /** The bottle CA's certificate (PEM) egress minted; the key never leaves the bundle. */
  caPem: string;
  /** Resolves with what happened when the bundle ends on its own (not by teardown); never rejects. */
  died: Promise<string>;
  /** Strings only the bundle's host-side command line holds (the containment check looks for them inside). */
  hostProcessMarkers: string[];
  /** The bundle's own start-up milestones, ms since its process started (its ready line's `startMs`; for the trace). */
  startMs?: unknown;
  /**
   * Starts the bundle's warm-ups (leaf certificates, upstream trust, the MCP
   * server) once the agent is released, so they overlap the agent's start and
   * not the containment check. A bundle without it warms up right after ready.
   */
  warm?(): void;
}

/** Where the bundle runs: a host child process (bwrap), a container (docker, smolmachines), a pod. */
export interface SidecarHost {
  /** Start the bundle and resolve once it reported ready; registers its stop on `teardown` as soon as it runs. */
  start(opts: BundleStart): Promise<ReadyBundle>;
}

/** The bundle's endpoints as the bundle listens and as the guest reaches them. */
export interface BundleEndpoints {
  /** In the bundle's config (bwrap: Unix sockets in the run folder; docker: TCP on the internal network). */
  listen: SidecarListeners;
  /** Where egress writes its CA certificate, as the bundle sees it. */
  caCertOut: string;
  /** As the agent reaches them (bwrap: loopback forwarders; docker: the bundle's alias). */
  guest: GuestEndpoints;
  /** The same, for the containment probe. */
  probe: ProbeTargets;
}

/** A guest to materialise: the shared provisioning, and the agent's persisted folders. */
export interface GuestSpec {
  /** Environment, files for the home (those not in a persisted folder), skills, command, workdir. */
  setup: GuestSetup;
  /** The agent's folders kept across runs (host folder → guest folder), already provisioned. */
  persisted: ReadonlyArray<{ hostPath: string; guestPath: string }>;
  /** Whether the containment probe runs in this guest (its files are then put in place too). */
  probe: boolean;
}

/** A guest whose files are in place, not started yet. */
export interface PreparedGuest {
  /**
   * Start the guest held: the agent does not run until `release`. With the probe, `probeSpec` resolves
   * with its first spec line once the host canaries listen, and the probe starts at once (its node start
   * overlaps the canaries', its bundle-free checks the bundle's start). A rejected spec fails the launch
   * (the orchestrator awaits it too): hand the probe nothing then.
   */
  start(probeSpec?: Promise<string>): Promise<HeldGuest>;
}

/** A guest that runs but holds its agent until `release`. */
export interface HeldGuest {
  /** Resolves with the agent's exit code (or the guest's, if it ends before the release). Never rejects. */
  exited: Promise<number>;
  /** Put the bottle CA into the guest's trust store (the file and the bundle). */
  trust(caPem: string): Promise<void>;
  /** The probe's side for the gate (only when the guest was started with a probe): it never judges. */
  probe(ready: { caPem: string; hostProcessMarkers: string[] }): ProbeInside;
  /** Start the agent. Called only after the gate passed. */
  release(): Promise<void>;
}

/** One bottle's boundary, prepared by `Backend.boundary`. */
export interface Boundary {
  readonly sidecars: SidecarHost;
  /** Where the bundle listens and how the guest reaches it; `gitGate` says whether the gate runs. */
  endpoints(opts: { gitGate: boolean }): BundleEndpoints;
  /** The uid the agent's persisted folders belong to on the host (bwrap as root: the sandbox's), if not ours. */
  readonly agentDirOwner?: number;
  /**
   * Materialise the guest from `spec` (files, skills, the agent program, the probe), before the bundle
   * starts: a missing program fails before anything runs. `start` is then called while the bundle starts.
   */
  materialise(spec: GuestSpec): Promise<PreparedGuest>;
}

export interface BoundaryContext {
  teardown: TeardownStack;
  log: (message: string) => void;
  /** $BOT_BOTTLE_HOME */
  home: string;
  /** The operator's environment (bundle knobs, PATH for finding tools; never copied into the agent). */
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** Attached to the operator's terminal (true) or headless (false). */
  interactive: boolean;
}

export interface Availability {
  available: boolean;
  /** Why (not): shown when auto-detection picks or skips this backend. */
  reason: string;
  /** What the preflight says of an explicitly chosen backend too (docker: the runtime every bottle uses). */
  detail?: string;
}

export interface RunningBottle {
  slug: string;
  /** Resolves with the agent's exit code when the agent ends. */
  exited: Promise<number>;
  /**
   * Resolves with what died when something the bottle needs ends on its own
   * (its sidecar bundle): the launcher then stops the bottle. Never rejects.
   */
  failed: Promise<string>;
}

/** What `stop` did. */
export interface StopReport {
  /** Whether any process of the bottle was still running. */
  wasRunning: boolean;
  /** One line each: stale or invalid records that were not signalled, processes that did not end. */
  notes: string[];
  /** True when something may still run (the operator has to look). */
  incomplete: boolean;
}

export interface BottleStatus {
  slug: string;
  backend: BackendName;
  running: boolean;
  detail?: string;
}

/**
 * A backend knows how to build its boundary and run things in it; nothing
 * else. Plans, secrets, state, provisioning, sidecars and the launch order are
 * shared (`orchestrate.ts`).
 */
export interface Backend {
  readonly name: BackendName;
  availability(): Promise<Availability>;
  /**
   * The backend's part of the plan (addresses, commands, cache keys) and the
   * host checks that failed: pure apart from those checks, so a dry run
   * prints it on any host.
   */
  planBoundary?(plan: BottlePlan, ctx: { home: string; env: Readonly<Record<string, string | undefined>> }): Promise<BoundaryPlan>;
  /** Prepare one bottle's boundary (e.g. its run folder); nothing runs yet. */
  boundary(plan: BottlePlan, ctx: BoundaryContext): Promise<Boundary>;
  exec(slug: string, argv: readonly string[]): Promise<number>;
  attach(slug: string): Promise<number>;
  /** Bottles of this backend under $BOT_BOTTLE_HOME `home`. */
  list(home: string): Promise<BottleStatus[]>;
  /**
   * Stop a bottle from any process: its agent, boundary and sidecars, and the
   * CLI attached to it (which then tears down and exits non-zero). Only
   * processes whose recorded identity still matches are signalled.
   */
  stop(slug: string, home: string): Promise<StopReport>;
}

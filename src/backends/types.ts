import type { ContainmentGate } from '../containment/gate.js';
import type { TeardownStack } from '../launch/teardown.js';
import type { BoundaryPlan } from '../plan/boundary.js';
import type { BackendName, BottlePlan } from '../plan/types.js';

export interface Availability {
  available: boolean;
  /** Why (not): shown when auto-detection picks or skips this backend. */
  reason: string;
}

/** Values resolved at launch that must never be written anywhere: env secrets and token slot values. */
export interface LaunchSecrets {
  /** Agent environment entries resolved from prompts and host variables. */
  agentEnv: Record<string, string>;
  /** EGRESS_TOKEN_* values for the sidecar's environment only. */
  sidecarEnv: Record<string, string>;
}

export interface LaunchContext {
  teardown: TeardownStack;
  secrets: LaunchSecrets;
  log: (message: string) => void;
  /** $BOT_BOTTLE_HOME */
  home: string;
  /** The operator's environment (bundle knobs such as BOT_BOTTLE_RESOLVE; never copied into the agent). */
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** Attached to the operator's terminal (true) or headless (false). */
  interactive: boolean;
  /**
   * The containment self-test: when enabled, the backend runs the probe inside
   * the bottle through `verify` and starts the agent only once it resolves.
   */
  containment: ContainmentGate;
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
 * A backend knows how to create the isolation boundary and run things in it;
 * nothing else. Plans, provisioning and sidecars are shared.
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
  launch(plan: BottlePlan, ctx: LaunchContext): Promise<RunningBottle>;
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

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

import type { BoundaryPlan } from './boundary.js';
import type { AnsiColor, BackendName } from '../state/names.js';
import type { EgressRoutePlan } from '../routes/model.js';
import type { ProviderTemplate } from '../manifest/schema.js';

/**
 * Everything a launch needs, decided up front. Plain JSON (it is what
 * `start --dry-run --format json` prints), so it can be diffed, tested and
 * stored. Secret values never appear: only where they will come from.
 */
export interface BottlePlan {
  version: 1;
  slug: string;
  label: string;
  color: AnsiColor;
  backend: BackendName;
  /** Why this backend: flag, environment variable, or auto-detection. */
  backendReason: string;
  agent: {
    name: string;
    file: string;
    origin: 'home' | 'repo';
    systemPrompt: string;
    skills: string[];
  };
  bottles: {
    /** As chosen (agent's `bottle:` or --bottle flags), in merge order. */
    names: string[];
    /** Every bottle folded in, `extends` ancestors first. */
    chain: string[];
    files: string[];
  };
  provider: {
    template: ProviderTemplate;
    image: ImagePlan;
    /** The program the bottle runs for the agent, with its arguments. */
    command: string[];
    /**
     * The agent's own folders (settings, conversations) kept across runs of
     * this bottle: `hostPath` in the state folder appears at `guestPath`.
     * The agent writes them, so bot-bottle treats what is there as hostile.
     */
    persist?: Array<{ hostPath: string; guestPath: string }>;
    /**
     * docker `resume` of a committed bottle: the agent boots from this image
     * (`bot-bottle commit`) instead of building `image`; the id is what the
     * tag pointed at when committed (recorded in the bottle's metadata).
     */
    snapshot?: { image: string; id: string; committedAt: string };
  };
  mode: { kind: 'interactive' } | { kind: 'headless'; prompt: string };
  env: PlanEnvEntry[];
  workspace: {
    mode: 'copy' | 'empty';
    /** The host cwd copied in with --cwd. */
    source?: string;
    /** What the copy leaves out: what git's ignore rules ignore there (`node_modules/`, `.env`, ...). */
    skip?: 'gitignored';
    /** Where the workspace lives on the host (inside the bottle's state folder). */
    hostPath: string;
    guestPath: string;
  };
  git: {
    user: { name?: Provenanced; email?: Provenanced };
  };
  sidecars: {
    egress: {
      routes: EgressRoutePlan[];
      tokens: TokenSource[];
      /** Hosts egress opens a connection to once the agent is released, before its first request (routes/preconnect.ts). */
      preconnect: Array<{ host: string; port: number }>;
    };
    gitGate: { repos: GitGateRepoPlan[] };
    supervise: { enabled: true };
  };
  stateDir: string;
  /** `--rm`: the state folder (workspace included) and queue are deleted when the bottle stops. */
  removeAtExit?: true;
  /**
   * The self-test that proves the boundary from inside before the agent starts
   * (src/containment); off only with --no-containment-check.
   */
  containmentCheck: { run: true } | { run: false; reason: string };
  /** The chosen backend's own part (src/plan/boundary.ts), added after resolving by backends that have one. */
  boundary?: BoundaryPlan;
  /** Problems found while planning; a dry run prints them, a launch refuses the blocking ones (`blockingWarnings`). */
  warnings: PlanWarning[];
}

/**
 * A problem found while planning. `blocksLaunch` is decided where the problem
 * is found (an unset token variable, a missing identity file): a launch
 * refuses, a dry run only shows it. The message is what the operator reads.
 */
export interface PlanWarning {
  code: PlanWarningCode;
  message: string;
  blocksLaunch: boolean;
}

export type PlanWarningCode =
  | 'manifest'
  | 'provider-auth'
  | 'provider-model'
  | 'route-auth-ignored'
  | 'token-unset'
  | 'codex-login-missing'
  | 'env-unset'
  | 'skill-missing'
  | 'git-identity';

export { ANSI_COLORS, BACKEND_NAMES, BACKEND_PREFERENCE, type AnsiColor, type BackendName } from '../state/names.js';
export type ImagePlan =
  | { kind: 'host-program'; program: string }
  | { kind: 'default'; name: string }
  | { kind: 'dockerfile'; path: string };

export type PlanEnvEntry =
  | { name: string; kind: 'literal'; value: string; secret: false }
  /** Prompted on the terminal at launch. */
  | { name: string; kind: 'prompt'; prompt: string; secret: true }
  /** Copied from the host environment at launch. */
  | { name: string; kind: 'host'; hostVar: string; secret: true }
  /** A stand-in the agent sees instead of a real credential that egress injects. */
  | { name: string; kind: 'placeholder'; value: string; secret: false };

export interface Provenanced {
  value: string;
  from: 'agent' | 'bottle';
}

/** Where the sidecar gets the value for an EGRESS_TOKEN_* slot at launch. */
export interface TokenSource {
  slot: string;
  from: { kind: 'env'; name: string } | { kind: 'codex-auth-file'; path: string };
}

export interface GitGateRepoPlan {
  name: string;
  url: string;
  identityFile: string;
  hostKey: string;
  branches: string[];
}

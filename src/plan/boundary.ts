/**
 * The backend's own part of a plan: what its boundary will be made of
 * (addresses, the exact commands, cache keys) and whether this host can
 * build it. Filled by the chosen backend after resolvePlan (which stays
 * backend-neutral); `start --dry-run` prints it on any host, with the
 * failed host checks listed instead of stopping. Backends add their
 * variant to the union.
 */
export interface PreflightCheckPlan {
  check: string;
  ok: boolean;
  detail: string;
  /** What to do about a failure. */
  fix?: string;
}

export interface BoundaryPreflight {
  ok: boolean;
  /** Only the checks that failed (empty when ok). */
  failed: PreflightCheckPlan[];
}

export interface SmolmachinesBoundaryPlan {
  backend: 'smolmachines';
  preflight: BoundaryPreflight;
  bundle: {
    /** The per-bottle Docker network the bundle alone sits on. */
    network: string;
    subnet: string;
    gateway: string;
    /** The bundle container's pinned address. */
    address: string;
    /** The agent-facing ports on that address (git-gate only with repos). */
    ports: { egress: number; gitGate?: number; supervise: number };
  };
  guest: {
    machine: string;
    /** Every destination the guest may reach: the bundle's address only. */
    allowCidrs: string[];
    /** The guest's resolver: the bundle's address, where nothing answers DNS. */
    dns: string;
  };
  /** smolvm argv as the launch runs it (no environment, no secret): `<pack>` stands for pack.file. */
  smolvm: { create: string[]; start: string[]; ready: string[]; stop: string[]; delete: string[] };
  image: {
    /** Where the agent image comes from (the docker backend's Dockerfile cascade). */
    source: string;
    /** How the image is keyed: the docker backend's fingerprint tag; its engine id keys the pack. */
    key: string;
  };
  pack: {
    cacheDir: string;
    /** `<image-id>` is the agent image's engine id (sha256 hex), known once the image is built. */
    file: string;
  };
}

export type BoundaryPlan = SmolmachinesBoundaryPlan;

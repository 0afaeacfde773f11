import { join } from 'node:path';
import type { EgressConfig, Listen } from '../sidecars/egress/config.js';
import type { GitGateConfigInput } from '../sidecars/git-gate/config.js';
import type { SuperviseConfigInput } from '../sidecars/supervise/config.js';
import type { BottlePlan } from '../plan/types.js';
import type { BottleStatePaths } from '../state/paths.js';
import { queueDir } from '../state/paths.js';

export interface SidecarListeners {
  egress: Listen;
  gitGate: Listen;
  supervise: SuperviseConfigInput['listen'];
  /** Host names the agent uses for the supervise server (the DNS-rebinding guard's allow list). */
  superviseHosts: string[];
}

/** What the launch step writes; each daemon validates its own section when the bundle loads it. */
export interface SidecarConfigFile {
  bottle: string;
  egress: EgressConfig;
  supervise: SuperviseConfigInput;
  gitGate?: GitGateConfigInput;
}

/** The bundle's config for one bottle: the same shape for every backend, only the listeners differ. */
export function sidecarConfig(plan: BottlePlan, paths: BottleStatePaths, home: string, listen: SidecarListeners, caCertOut: string): SidecarConfigFile {
  const queue = queueDir(plan.slug, home);
  const config: SidecarConfigFile = {
    bottle: plan.slug,
    egress: {
      listen: listen.egress,
      routesFile: paths.egressRoutes,
      caCertOut,
      auditLog: join(paths.dir, 'egress-audit.jsonl'),
      superviseQueueDir: queue,
      ...(plan.sidecars.egress.preconnect.length > 0 ? { preconnect: plan.sidecars.egress.preconnect } : {}),
    },
    supervise: {
      listen: listen.supervise,
      queueDir: queue,
      routesFile: paths.egressRoutes,
      proposalTimeoutMs: 15 * 60_000,
      progressIntervalMs: 10_000,
      allowedHosts: listen.superviseHosts,
    },
  };
  if (plan.sidecars.gitGate.repos.length > 0) {
    const user = plan.git.user;
    config.gitGate = {
      listen: listen.gitGate,
      dataDir: join(paths.dir, 'git-gate'),
      repos: plan.sidecars.gitGate.repos.map((r) => ({
        name: r.name,
        url: r.url,
        identityFile: r.identityFile,
        hostKey: r.hostKey,
        ...(r.branches.length > 0 ? { branches: r.branches } : {}),
        allowForcePush: false,
        allowDelete: false,
      })),
      superviseQueueDir: queue,
      approvalWaitMs: 0,
      scanTimeoutMs: 300_000,
      ...(user.name && user.email ? { user: { name: user.name.value, email: user.email.value } } : {}),
    };
  }
  return config;
}

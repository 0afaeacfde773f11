import type { BottleStatePaths } from '../paths.js';
import { FileApprovalStore } from './file-approvals.js';
import { FileRoutesStore } from './file-routes.js';
import type { ApprovalStore, RoutesStore } from './types.js';

export type * from './types.js';
export { fileMetadataStore } from '../metadata.js';

/** One bottle's route and approval stores, as files in its state folder on the host. */
export interface BottleStores {
  routes: RoutesStore;
  approvals: ApprovalStore;
}

export function fileBottleStores(paths: Pick<BottleStatePaths, 'dir' | 'egressRoutes' | 'approvedRoutes' | 'approvedCapabilities'>): BottleStores {
  return {
    routes: new FileRoutesStore(paths.dir, paths.egressRoutes, paths.approvedRoutes),
    approvals: new FileApprovalStore(paths.dir, paths.approvedCapabilities),
  };
}

import type { EgressRoutePlan } from '../../routes/model.js';
import type { BottleMetadata } from '../metadata.js';

/*
 * The bottle's state as the rest of bot-bottle sees it: the live route table
 * egress serves and its reload acknowledgements, the routes and capability
 * changes operators approved, and the bottle's metadata. Everything reads
 * and writes them through these interfaces; today one implementation keeps
 * them as files in the bottle's state folder on the host (file-routes.ts,
 * file-approvals.ts, file-metadata.ts). A backend whose bundle does not run
 * on the host (Kubernetes: docs/design/kubernetes.md) swaps in one backed by
 * its API server. Proposals have their own store: ProposalStore in
 * src/supervise/queue.ts.
 */

/** A version of the live route table: the digest of what was written, so writer and egress name the same table. */
export type RoutesGeneration = string;

export interface RoutesSnapshot {
  generation: RoutesGeneration;
  routes: EgressRoutePlan[];
}

/** What egress did with one generation of the live table. */
export type RouteAck =
  | { generation: RoutesGeneration; applied: true; routes: number; at: string }
  /** Refused: egress keeps serving the previous table. */
  | { generation: RoutesGeneration; applied: false; error: string; at: string };

export interface RoutesStore {
  /** The live table; undefined when there is none (the bottle is not running). Throws when it is damaged. */
  readLive(): Promise<RoutesSnapshot | undefined>;
  /** Replace the live table (at launch). */
  writeLive(routes: readonly EgressRoutePlan[]): Promise<RoutesGeneration>;
  /** Change the live table under a lock; undefined (and nothing written) when there is no live table. */
  updateLive(change: (routes: EgressRoutePlan[]) => EgressRoutePlan[]): Promise<RoutesGeneration | undefined>;
  /** Routes the operator approved through supervise; `resume` adds them to the next live table. */
  readApproved(): Promise<EgressRoutePlan[]>;
  updateApproved(change: (routes: EgressRoutePlan[]) => EgressRoutePlan[]): Promise<void>;
  /** Egress's word on the last table it loaded. */
  writeAck(ack: RouteAck): Promise<void>;
  readAck(): Promise<RouteAck | undefined>;
}

export interface ApprovedCapability {
  id: string;
  change: string;
  reason: string;
  approved_at: string;
  by: string;
}

export interface ApprovalStore {
  /** Image/capability changes approved through supervise, applied at the next `resume`. */
  readCapabilities(): Promise<ApprovedCapability[]>;
  updateCapabilities(change: (list: ApprovedCapability[]) => ApprovedCapability[]): Promise<void>;
}

export interface MetadataStore {
  /** Throws for a bottle without usable metadata (missing, a link, damaged, naming another bottle). */
  read(slug: string): BottleMetadata;
  write(meta: BottleMetadata): Promise<void>;
  /** Bottles with state, running or not. */
  slugs(): string[];
  taken(slug: string): boolean;
}

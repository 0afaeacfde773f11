import { basename, dirname, join } from 'node:path';
import * as z from 'zod/mini';
import { EgressRoutePlanSchema, type EgressRoutePlan } from '../../routes/model.js';
import { readJson, withLock, writeJson } from './file-json.js';
import type { RouteAck, RoutesGeneration, RoutesSnapshot, RoutesStore } from './types.js';

const RoutesFileSchema = z.array(EgressRoutePlanSchema);
const RouteAckSchema = z.union([
  z.strictObject({ generation: z.string(), applied: z.literal(true), routes: z.int(), at: z.string() }),
  z.strictObject({ generation: z.string(), applied: z.literal(false), error: z.string(), at: z.string() }),
]);

/** Where egress acknowledges the loads of `routesFile`: beside it, so egress needs no new path in its config. */
export function routesAckFile(routesFile: string): string {
  return join(dirname(routesFile), `${basename(routesFile, '.json')}.ack.json`);
}

/**
 * The route store kept as files in the bottle's state folder: the live table
 * (`egress-routes.json`, which egress watches), its acknowledgement beside it,
 * and the approved routes `resume` keeps. `base` is the folder below which no
 * link is followed.
 */
export class FileRoutesStore implements RoutesStore {
  readonly ackFile: string;

  constructor(
    private readonly base: string,
    readonly liveFile: string,
    private readonly approvedFile?: string,
  ) {
    this.ackFile = routesAckFile(liveFile);
  }

  readLive(): Promise<RoutesSnapshot | undefined> {
    return settle(() => this.readLiveNow());
  }

  /** The live table, read now (the file store can; egress's start-up is synchronous). */
  readLiveNow(): RoutesSnapshot | undefined {
    const read = readJson(this.base, this.liveFile, RoutesFileSchema, 'routes file');
    return read && { generation: read.digest, routes: read.value };
  }

  writeLive(routes: readonly EgressRoutePlan[]): Promise<RoutesGeneration> {
    return writeJson(this.base, this.liveFile, routes);
  }

  updateLive(change: (routes: EgressRoutePlan[]) => EgressRoutePlan[]): Promise<RoutesGeneration | undefined> {
    return withLock(this.liveFile, async () => {
      const live = refuseRewrite(() => this.readLiveNow());
      if (live === undefined) return undefined;
      return this.writeLive(change(live.routes));
    });
  }

  readApproved(): Promise<EgressRoutePlan[]> {
    return settle(() => this.readApprovedNow());
  }

  readApprovedNow(): EgressRoutePlan[] {
    if (!this.approvedFile) return [];
    return refuseRewrite(() => readJson(this.base, this.approvedFile as string, RoutesFileSchema, 'approved routes (fix or delete it)'))?.value ?? [];
  }

  async updateApproved(change: (routes: EgressRoutePlan[]) => EgressRoutePlan[]): Promise<void> {
    const file = this.approvedFile;
    if (!file) throw new Error('this route store keeps no approved routes');
    await withLock(file, async () => {
      await writeJson(this.base, file, change(this.readApprovedNow()));
    });
  }

  async writeAck(ack: RouteAck): Promise<void> {
    await writeJson(this.base, this.ackFile, ack);
  }

  readAck(): Promise<RouteAck | undefined> {
    try {
      return Promise.resolve(readJson(this.base, this.ackFile, RouteAckSchema, 'route acknowledgement')?.value);
    } catch {
      // Mid-rewrite cannot happen (atomic), so this is damage: as good as no word from egress.
      return Promise.resolve(undefined);
    }
  }
}

/** The file store reads synchronously; the interface is async for stores behind an API. */
export function settle<T>(read: () => T): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** A damaged file is never rewritten: the operator must see and fix it first. */
function refuseRewrite<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new Error(`${(err as Error).message}; refusing to rewrite it`, { cause: err });
  }
}

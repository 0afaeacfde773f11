import * as z from 'zod/mini';
import { readJson, withLock, writeJson } from './file-json.js';
import { settle } from './file-routes.js';
import type { ApprovalStore, ApprovedCapability } from './types.js';

const ApprovedCapabilitySchema = z.object({
  id: z.string(),
  change: z.string(),
  reason: z.string(),
  approved_at: z.string(),
  by: z.string(),
});

/** Approved capability changes as a file in the bottle's state folder (`approved-capabilities.json`). */
export class FileApprovalStore implements ApprovalStore {
  constructor(
    private readonly base: string,
    private readonly file: string,
  ) {}

  readCapabilities(): Promise<ApprovedCapability[]> {
    return settle(() => this.readNow());
  }

  private readNow(): ApprovedCapability[] {
    try {
      return readJson(this.base, this.file, z.array(ApprovedCapabilitySchema), 'approved capabilities')?.value ?? [];
    } catch (err) {
      throw new Error(`${(err as Error).message}; refusing to rewrite it`, { cause: err });
    }
  }

  async updateCapabilities(change: (list: ApprovedCapability[]) => ApprovedCapability[]): Promise<void> {
    await withLock(this.file, async () => {
      await writeJson(this.base, this.file, change(this.readNow()));
    });
  }
}

// How long an export (and the Decrypt grant minted for it) may live, and the hourly sweep that
// ends one that outlived it: EventBridge Scheduler queues an `expire-exports` job on the key-sync
// queue, whose worker runs as the steward role, the one role that may revoke export grants.
import * as z from './zod.js';
import { keySyncJobSchema } from './jobs.js';

/**
 * An export's longest life, from its request: longer than the export queue's receives times its
 * visibility timeout (3 × 6 × 900 s = 4.5 h), so no attempt of a job that was received at once is
 * still running. The employee's lock lapses after it too.
 */
export const EXPORT_LIFE_MS = 5 * 60 * 60 * 1000;

/** How often the sweep runs: an export grant outlives its export's life by this at most. */
export const EXPORT_EXPIRY_EVERY_HOURS = 1;

/** What the employee reads (GET /v1/exports/{exportId}) about an export the sweep ended. */
export const EXPORT_EXPIRED_REASON = `expired: the export did not finish within ${EXPORT_LIFE_MS / 3_600_000} hours; please ask for a new one`;

/** The sweep's job; it names nothing, so whoever may queue it can only make the sweep run early. */
export const exportExpiryJobSchema = z.strictObject({ kind: z.literal('expire-exports') });
export type ExportExpiryJob = z.infer<typeof exportExpiryJobSchema>;

/** What the key-sync queue carries: an employee's key-policy sync, or the export sweep. */
export const keySyncQueueJobSchema = z.union([exportExpiryJobSchema, keySyncJobSchema]);
export type KeySyncQueueJob = z.infer<typeof keySyncQueueJobSchema>;

/** The name of an export's grant (KMS lists it with the grant): the sweep knows which export a grant serves. */
export function exportGrantName(exportId: string): string {
  return `export-${exportId}`;
}

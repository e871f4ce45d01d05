// GET /v1/consent/last-capture: when the employee's key last stored captured data, derived from
// ingest's batch claims (when a batch was claimed, and how many events it stored), never from the
// captured content. Claims live 8 days, so an older use reads as none within that window.
import * as z from './zod.js';

/** How long ingest keeps a batch claim (its `expiresAt` is the claim time plus this): past the 7-day replay window. */
export const BATCH_CLAIM_TTL_SECONDS = 8 * 24 * 3600;
/** How far back the answer can see: the lifetime of a batch claim. */
export const LAST_CAPTURE_WINDOW_DAYS = BATCH_CLAIM_TTL_SECONDS / 86_400;

export const lastCaptureResponse = z.object({
  /** The claim time of the newest batch that stored at least one event; null when none in the window. */
  lastCaptureAt: z.nullable(z.iso.datetime({ offset: true })),
  windowDays: z.number().check(z.int(), z.gt(0)),
});

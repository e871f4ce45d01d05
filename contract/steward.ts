// What the consent function may ask of the key steward (a function no route reaches) and what it
// answers. The request names an employee and an intent, never a policy or a state: the steward
// derives both from the newest valid ledger event, so a caller cannot choose what a key allows.
import * as z from './zod.js';
import { ID_PATTERN, SCOPES } from './vocabulary.js';

const employeeId = z.string().check(z.regex(ID_PATTERN));

/**
 * - `ensure-key`: the key the newest event records, or the key behind the employee's alias if it
 *   is exactly one this application makes, or a new one (with a no-capture policy);
 * - `apply`: write the newest valid event's policy (and its tag and grant revocations), then
 *   converge on any newer event;
 * - `export-grant`: a Decrypt grant for the export role, constrained to the employee, while the
 *   newest event says consent is active, paused or revoked (the key policy's ExportGrants).
 * - `training-grant`: Decrypt grants for the training role on the employee's key, one per asked
 *   scope that the newest event consents now (active or paused), constrained to the employee and
 *   that scope, named after the dataset (the key policy's TrainingGrants). Answers the scopes granted.
 * - `retire-dataset`: revoke the training grants of one dataset on the employee's key (expiry).
 * Strict: a field the steward does not read (a `policy`, a `state`) refuses the whole request.
 */
export const stewardRequestSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('ensure-key'), employeeId }),
  z.strictObject({ action: z.literal('apply'), employeeId }),
  z.strictObject({ action: z.literal('export-grant'), employeeId, exportId: z.string().check(z.regex(ID_PATTERN)) }),
  z.strictObject({ action: z.literal('training-grant'), employeeId, datasetId: z.string().check(z.regex(ID_PATTERN)), scopes: z.array(z.enum(SCOPES)).check(z.minLength(1), z.maxLength(SCOPES.length)) }),
  z.strictObject({ action: z.literal('retire-dataset'), employeeId, datasetId: z.string().check(z.regex(ID_PATTERN)) }),
]);
export type StewardRequest = z.infer<typeof stewardRequestSchema>;

/**
 * Why the steward did not do what was asked. The consent function maps each to its HTTP answer:
 * - `invalid-request`: the payload is not a request (500 there: the caller is ours);
 * - `ledger-invalid`: the newest ledger event fails validation, so nothing is applied (503);
 * - `key-conflict`: the alias names a key this application will not adopt (409, alarmed);
 * - `alias-taken`: another request created the alias first (the caller decides again);
 * - `key-quota-exhausted`: the Region's KMS key quota (503, no retry);
 * - `throttled` / `unavailable`: KMS or DynamoDB throttled or failed (the write goes to key-sync);
 * - `shredding-denied`: KMS refused the shredded policy and the key is not shredded;
 * - `not-consented`: an export grant for an employee without active consent (409);
 * - `internal`: anything else, logged by the steward.
 */
export const STEWARD_ERRORS = [
  'invalid-request',
  'ledger-invalid',
  'key-conflict',
  'alias-taken',
  'key-quota-exhausted',
  'throttled',
  'unavailable',
  'shredding-denied',
  'not-consented',
  'internal',
] as const;
export type StewardErrorCode = (typeof STEWARD_ERRORS)[number];

const keyArn = z.string().check(z.minLength(1), z.maxLength(2048));

export const stewardResponseSchema = z.union([
  z.strictObject({ ok: z.literal(true), action: z.literal('ensure-key'), keyArn }),
  /** The state whose policy is now on the key (the newest valid event's, after convergence); absent when the ledger is empty. */
  z.strictObject({ ok: z.literal(true), action: z.literal('apply'), sequence: z.number().check(z.int(), z.gte(0)), state: z.optional(z.record(z.string(), z.unknown())) }),
  z.strictObject({ ok: z.literal(true), action: z.literal('export-grant'), grantId: z.string().check(z.minLength(1)), grantToken: z.string().check(z.minLength(1)) }),
  /** The scopes granted (consented now, among those asked) and the consent state's sequence they rest on. */
  z.strictObject({ ok: z.literal(true), action: z.literal('training-grant'), scopes: z.array(z.enum(SCOPES)), sequence: z.number().check(z.int(), z.gte(0)) }),
  z.strictObject({ ok: z.literal(true), action: z.literal('retire-dataset'), revoked: z.number().check(z.int(), z.gte(0)) }),
  z.strictObject({ ok: z.literal(false), error: z.enum(STEWARD_ERRORS), message: z.string().check(z.maxLength(500)) }),
]);
export type StewardResponse = z.infer<typeof stewardResponseSchema>;

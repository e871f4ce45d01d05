// Request bodies of the consent routes: the contract of POST /v1/consent and its sub-routes. The
// consent function parses them once at the edge.
import * as z from './zod.js';
import { SCOPES } from './vocabulary.js';

export const MAX_CONSENT_BODY_BYTES = 16 * 1024;
export const MIN_PAUSE_MINUTES = 1;
export const MAX_PAUSE_MINUTES = 10_080;
/** An explicit `until` may lie up to a year ahead; past that, withdrawing is the honest tool. */
export const MAX_PAUSE_UNTIL_DAYS = 366;

export const grantBody = z.strictObject({
  scopes: z.array(z.enum(SCOPES)).check(z.minLength(1), z.maxLength(SCOPES.length)),
  noticeVersion: z.string().check(z.minLength(1), z.maxLength(64), z.regex(/^[\w.:-]+$/, 'use letters, digits, dot, colon, dash or underscore')),
  noticeSha256: z.string().check(z.regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256 of the notice text')),
});

export const pauseBody = z.union([
  z.strictObject({ minutes: z.number().check(z.int(), z.gte(MIN_PAUSE_MINUTES), z.lte(MAX_PAUSE_MINUTES)) }),
  z.strictObject({ until: z.iso.datetime({ offset: true }) }),
]);

export const emptyBody = z.strictObject({});

export const revokeBody = z.strictObject({ erase: z.boolean() });

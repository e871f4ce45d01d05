// Request bodies of the consent routes: the contract of POST /v1/consent and its sub-routes. The
// consent function parses them once at the edge.
import * as z from 'zod';
import { SCOPES } from './vocabulary.js';

export const MAX_CONSENT_BODY_BYTES = 16 * 1024;
export const MIN_PAUSE_MINUTES = 1;
export const MAX_PAUSE_MINUTES = 10_080;
/** An explicit `until` may lie up to a year ahead; past that, withdrawing is the honest tool. */
export const MAX_PAUSE_UNTIL_DAYS = 366;

export const grantBody = z
  .object({
    scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
    noticeVersion: z.string().min(1).max(64).regex(/^[\w.:-]+$/, 'use letters, digits, dot, colon, dash or underscore'),
    noticeSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256 of the notice text'),
  })
  .strict();

export const pauseBody = z.union([
  z.object({ minutes: z.number().int().min(MIN_PAUSE_MINUTES).max(MAX_PAUSE_MINUTES) }).strict(),
  z.object({ until: z.iso.datetime({ offset: true }) }).strict(),
]);

export const emptyBody = z.object({}).strict();

export const revokeBody = z.object({ erase: z.boolean() }).strict();

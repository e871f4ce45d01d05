// The JSON bodies the routes answer with on success. Errors share one shape, `errorBody`.
import * as z from 'zod';
import { exclusionsBody } from './exclusions.js';
import { EXPORT_STATUSES } from './export-format.js';
import { CONSENT_STATUSES, ID_PATTERN, SCOPES } from './vocabulary.js';

const employeeId = z.string().regex(ID_PATTERN);
const instant = z.iso.datetime({ offset: true });

/** An employee's consent as a reader sees it now (a lapsed pause reads as `active`). */
export const consentStateResponse = z.object({
  employeeId,
  status: z.enum(CONSENT_STATUSES),
  scopes: z.array(z.enum(SCOPES)),
  pausedUntil: instant.optional(),
  noticeVersion: z.string().optional(),
  noticeSha256: z.string().optional(),
  sequence: z.number().int().nonnegative(),
  updatedAt: instant.optional(),
  /** The employee's exclusions, once set (PUT /v1/consent/exclusions). Agents apply them on the device. */
  exclusions: z.optional(exclusionsBody),
  /**
   * Per scope, the spans `[from, to)` of the last 7 days in which it was consented and not paused
   * (an open window has no `to`). Agents drop buffered events outside them before sending: ingest
   * refuses those anyway. Absent before the first consent.
   */
  windows: z.partialRecord(z.enum(SCOPES), z.array(z.object({ from: instant, to: instant.optional() }))).optional(),
});

export const consentHistoryResponse = z.object({
  events: z.array(
    z.object({
      sequence: z.number().int().positive(),
      kind: z.string(),
      at: instant,
      /**
       * Who made the change: an employee or HR caller (issuer and subject, and for changes made since
       * requests were evidenced, the token's jti, iat and SHA-256; never the token), or a service.
       */
      actor: z.union([
        z.object({
          kind: z.enum(['employee', 'hr']),
          issuer: z.string().nullable(),
          subject: z.string().nullable(),
          jti: z.string().nullable().optional(),
          iat: z.number().int().nullable().optional(),
          tokenSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
        }),
        z.object({ kind: z.literal('service'), name: z.string() }),
      ]),
      state: consentStateResponse,
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
});

export const offboardResponse = z.object({ employeeId, status: z.enum(CONSENT_STATUSES) });

/**
 * 202: what was stored per scope, what was refused (a reason for now, or how many events fell
 * outside the consent windows, for good), and how many values were redacted.
 */
export const captureAcceptedResponse = z.object({
  batchId: z.string(),
  stored: z.partialRecord(z.enum(SCOPES), z.number().int().nonnegative()),
  refused: z.partialRecord(z.enum(SCOPES), z.union([z.string(), z.object({ outsideConsent: z.number().int().positive() })])),
  redacted: z.number().int().nonnegative(),
  /** How many events the employee's exclusions dropped (never stored); absent when none. */
  excluded: z.number().int().positive().optional(),
});

/** 200: the batch was stored before; nothing was stored again. */
export const captureDuplicateResponse = z.object({ batchId: z.string(), duplicate: z.literal(true) });

/** 202: the export asked for, or the one already running for this employee. */
export const exportAcceptedResponse = z.object({ exportId: z.string().regex(ID_PATTERN), status: z.enum(EXPORT_STATUSES) });

/**
 * 200: an export's status. Once ready, `url` downloads the gzip'd JSON Lines file and
 * `manifestUrl` its manifest, both presigned GETs valid until `expiresAt` (15 minutes).
 */
export const exportStatusResponse = z.object({
  exportId: z.string().regex(ID_PATTERN),
  status: z.enum(EXPORT_STATUSES),
  requestedAt: instant,
  completedAt: instant.optional(),
  counts: z
    .object({
      events: z.partialRecord(z.enum(SCOPES), z.number().int().nonnegative()),
      objects: z.number().int().nonnegative(),
      unreadable: z.number().int().nonnegative(),
    })
    .optional(),
  url: z.url().optional(),
  manifestUrl: z.url().optional(),
  expiresAt: instant.optional(),
  /** Why a failed export failed, in a sentence for the employee. */
  reason: z.string().optional(),
});

/** Every 4xx and 5xx: a kebab-case code, a sentence, and field details for a bad body. */
export const errorBody = z.object({
  error: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/),
  message: z.string(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** Present on 429 and 503 (and 409 batch-in-progress): retry after the Retry-After header's seconds. */
  retryable: z.literal(true).optional(),
});

/** 403 `capture-not-permitted` on POST /v1/events: the batch, and why each scope was refused. */
export const captureRefusedResponse = errorBody.extend({
  batchId: z.string(),
  refused: captureAcceptedResponse.shape.refused,
});

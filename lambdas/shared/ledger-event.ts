// The shape every ledger event must have before anything applies it. The ledger is a DynamoDB
// table: whoever can write it can write anything, so an event is read as untrusted input.
import * as z from '../../contract/zod.js';
import { exclusionsBody } from '../../contract/exclusions.js';
import { CONSENT_STATUSES, SCOPES, type ConsentStatus } from './consent-model.js';
import { actorFromRecord, EVENT_KINDS, type ConsentEvent, type ConsentEventKind } from './consent-state.js';
import { MAX_WINDOWS_PER_SCOPE } from './consent-windows.js';
import { ID_PATTERN } from './ids.js';

/** A KMS key ARN in any partition; the ledger records no alias and no bare key id. */
export const KEY_ARN_PATTERN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;

/** The statuses each kind of event may leave behind: a `revoked` event that says `active` is forged. */
const STATUSES_OF_KIND: Readonly<Record<ConsentEventKind, readonly ConsentStatus[]>> = {
  granted: ['active'],
  'scopes-changed': ['active', 'paused'],
  paused: ['paused'],
  resumed: ['active'],
  revoked: ['revoked'],
  'erase-requested': ['purging'],
  offboarded: ['purging', 'purged'],
  purged: ['purged'],
  // The sweep leaves the state it found: revoked, or a consent given again before it ran.
  'revoke-swept': ['revoked', 'active', 'paused'],
  // An export is asked for and finishes while the key exists and is not being shredded.
  'export-requested': ['active', 'paused', 'revoked'],
  'export-ready': ['active', 'paused', 'revoked'],
  // Recorded by the change that took the scopes away: a narrowing, a withdrawal or an erasure.
  'datasets-withdrawn': ['active', 'paused', 'revoked', 'purging', 'purged'],
  // Exclusions may be set before a first consent and after a withdrawal; not once erasure began.
  'exclusions-changed': ['none', 'active', 'paused', 'revoked'],
};

const instant = z.iso.datetime({ offset: true });

/** Consent windows per scope (consent-windows.ts): a forged window could let backdated events in. */
const windowsSchema = z.partialRecord(
  z.enum(SCOPES),
  z
    .array(z.strictObject({ from: instant, to: z.optional(instant) }).check(z.refine((w) => w.to === undefined || Date.parse(w.to) >= Date.parse(w.from), 'a window ends before it starts')))
    .check(z.maxLength(MAX_WINDOWS_PER_SCOPE)),
);

// Loose, not strict: a field added by a newer writer (a rolling deploy) must not make every
// event unreadable; nothing reads a field this schema does not name.
export const consentStateSchema = z
  .looseObject({
    employeeId: z.string().check(z.regex(ID_PATTERN)),
    status: z.enum(CONSENT_STATUSES),
    scopes: z.array(z.enum(SCOPES)).check(z.maxLength(SCOPES.length)),
    pausedUntil: z.optional(instant),
    noticeVersion: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
    noticeSha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
    keyArn: z.optional(z.string().check(z.regex(KEY_ARN_PATTERN))),
    sequence: z.number().check(z.int(), z.gte(0)),
    updatedAt: instant,
    windows: z.optional(windowsSchema),
    exclusions: z.optional(exclusionsBody),
  })
  .check(
    z.superRefine((state, ctx) => {
      if (new Set(state.scopes).size !== state.scopes.length) ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'scopes repeat' });
      const capturing = state.status === 'active' || state.status === 'paused';
      // The same rules as the key-policy builder, so a valid event always has a policy.
      if (capturing && state.scopes.length === 0) ctx.addIssue({ code: 'custom', path: ['scopes'], message: `${state.status} needs a scope` });
      if (capturing && state.keyArn === undefined) ctx.addIssue({ code: 'custom', path: ['keyArn'], message: `${state.status} needs a key` });
      if (!capturing && state.scopes.length > 0) ctx.addIssue({ code: 'custom', path: ['scopes'], message: `${state.status} has no scopes` });
      if ((state.status === 'paused') !== (state.pausedUntil !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['pausedUntil'], message: 'pausedUntil goes with status paused, and only with it' });
      }
    }),
  );

const nullableText = (max: number) => z.nullable(z.string().check(z.minLength(1), z.maxLength(max)));

/** Bare words of events recorded before callers were named, or an actor with its evidence (consent-state.ts). */
const actorSchema = z.union([
  z.enum(['employee', 'offboarding', 'purge-worker']),
  z.strictObject({
    kind: z.enum(['employee', 'hr']),
    issuer: nullableText(2048),
    subject: nullableText(255),
    jti: z.optional(nullableText(256)),
    iat: z.optional(z.nullable(z.number().check(z.int(), z.gte(0)))),
    tokenSha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
  }),
  z.strictObject({ kind: z.literal('service'), name: z.enum(['purge-worker', 'export-worker', 'key-steward']) }),
]);

export const consentEventSchema = z
  .looseObject({
    employeeId: z.string().check(z.regex(ID_PATTERN)),
    sequence: z.number().check(z.int(), z.gt(0)),
    kind: z.enum(EVENT_KINDS),
    at: instant,
    actor: actorSchema,
    state: consentStateSchema,
    details: z.optional(z.record(z.string(), z.unknown())),
  })
  .check(
    z.superRefine((event, ctx) => {
      if (event.state.employeeId !== event.employeeId) ctx.addIssue({ code: 'custom', path: ['state', 'employeeId'], message: 'names another employee' });
      if (event.state.sequence !== event.sequence) ctx.addIssue({ code: 'custom', path: ['state', 'sequence'], message: 'differs from the event sequence' });
      if (!STATUSES_OF_KIND[event.kind].includes(event.state.status)) {
        ctx.addIssue({ code: 'custom', path: ['state', 'status'], message: `a ${event.kind} event cannot leave status ${event.state.status}` });
      }
    }),
  );

export type LedgerEventReading =
  | { readonly valid: true; readonly event: ConsentEvent }
  | { readonly valid: false; readonly sequence: number | undefined; readonly issues: readonly string[] };

/**
 * Reads one stored item (its keys already split off) as an event of `employeeId` at `sequence`.
 * The issues name paths only, never values: an invalid event may carry anything.
 */
export function readLedgerEvent(employeeId: string, sequence: number | undefined, item: unknown): LedgerEventReading {
  const parsed = consentEventSchema.safeParse(item);
  const issues = parsed.success ? [] : parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(event)'}: ${i.code}`);
  if (parsed.success && parsed.data.employeeId !== employeeId) issues.push('employeeId: differs from the partition key');
  if (parsed.success && sequence !== undefined && parsed.data.sequence !== sequence) issues.push('sequence: differs from the sort key');
  if (!parsed.success || issues.length > 0) return { valid: false, sequence, issues };
  return { valid: true, event: { ...parsed.data, actor: actorFromRecord(parsed.data.actor, employeeId) } as unknown as ConsentEvent };
}

// The body of POST /v1/events: a batch of capture events from one device, parsed once at the edge.
// Timestamps are normalised to epoch milliseconds (UTC) and checked against a caller-supplied clock.
import * as z from 'zod';
import { SCOPE_OF_EVENT_KIND, SCOPES, type Scope } from '../shared/consent-model.js';
import type { ErrorDetail } from '../shared/errors.js';
import { zodDetails } from '../shared/http.js';
import { ID_PATTERN } from '../shared/ids.js';

export const MAX_BODY_BYTES = 1_048_576;
export const MAX_EVENTS = 5_000;
export const MAX_TEXT_CHARS = 4_096;
export const MAX_APP_CHARS = 256;
export const MAX_TITLE_CHARS = 1_024;
export const MAX_COORDINATE = 100_000;
/** How old an event may be: older ones are refused, not silently stored under a wrong day. */
export const MAX_EVENT_AGE_MS = 7 * 24 * 60 * 60 * 1000;
/** How far ahead of the server clock an agent's clock may run. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
export const MAX_DETAILS = 20;
export const BUTTONS = ['left', 'right', 'middle', 'other'] as const;

const TS_MESSAGE = 'ts must be an ISO-8601 date-time with a UTC offset (e.g. 2026-11-26T12:00:00Z) or integer epoch milliseconds';

// A lone UTF-16 surrogate cannot be encoded as UTF-8, so storing it would silently turn it into
// U+FFFD after redaction; the agent is told instead. Linear: single characters, no nesting.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const WELL_FORMED = { error: 'must be well-formed Unicode (no lone surrogates)' } as const;

/** Lengths count UTF-16 code units (JavaScript `length`), so an emoji counts as 2. */
function boundedText(min: number, max: number) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((value) => !LONE_SURROGATE.test(value), WELL_FORMED);
}

const id = z.string().regex(ID_PATTERN, `must match ${ID_PATTERN.source}`);

/** Either form becomes epoch milliseconds; sub-millisecond ISO fractions are truncated. */
const timestamp = z
  .union([z.number({ error: TS_MESSAGE }).int({ error: TS_MESSAGE }), z.iso.datetime({ offset: true, error: TS_MESSAGE })], { error: TS_MESSAGE })
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const ms = Date.parse(value);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: TS_MESSAGE });
      return z.NEVER;
    }
    return ms;
  });

const coordinate = z.number().int().min(-MAX_COORDINATE).max(MAX_COORDINATE);

// Strict objects: an unknown key (including an own `__proto__` or `constructor` from JSON.parse)
// is an error, so nothing unexpected is ever copied into a stored event.
export const keystrokeEventSchema = z
  .object({
    kind: z.literal('keystroke'),
    ts: timestamp,
    text: boundedText(1, MAX_TEXT_CHARS),
    app: boundedText(1, MAX_APP_CHARS).optional(),
    secureField: z.boolean().optional(),
  })
  .strict();

export const clickEventSchema = z
  .object({
    kind: z.literal('click'),
    ts: timestamp,
    x: coordinate,
    y: coordinate,
    button: z.enum(BUTTONS),
    app: boundedText(1, MAX_APP_CHARS).optional(),
  })
  .strict();

export const appFocusEventSchema = z
  .object({
    kind: z.literal('app-focus'),
    ts: timestamp,
    app: boundedText(1, MAX_APP_CHARS),
    title: boundedText(0, MAX_TITLE_CHARS).optional(),
  })
  .strict();

export const captureEventSchema = z.discriminatedUnion('kind', [keystrokeEventSchema, clickEventSchema, appFocusEventSchema]);

const EVENT_COUNT = { error: `a batch holds 1 to ${MAX_EVENTS} events` } as const;

/**
 * The shape of a batch. The clock-dependent window on `ts` is checked by {@link parseBatch}: zod has
 * no per-parse context, and a per-request `.superRefine` clone recompiles zod's object parser
 * (measured ~0.1-0.2 ms and fresh allocations per call, against ~2 µs for this shared schema).
 */
export const captureBatchSchema = z
  .object({
    batchId: id,
    deviceId: id,
    events: z.array(captureEventSchema).min(1, EVENT_COUNT).max(MAX_EVENTS, EVENT_COUNT),
  })
  .strict();

export type CaptureBatch = z.output<typeof captureBatchSchema>;
export type CaptureEvent = CaptureBatch['events'][number];
export type CaptureEventKind = CaptureEvent['kind'];

/**
 * Faults of `ts` against the window as of `now`: every `ts` must lie in
 * [now - 7 days, now + 5 minutes], both ends inclusive. At most {@link MAX_DETAILS} are returned.
 */
export function timeWindowDetails(events: readonly Pick<CaptureEvent, 'ts'>[], now: Date): ErrorDetail[] {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new RangeError('now must be a valid Date');
  const oldest = nowMs - MAX_EVENT_AGE_MS;
  const latest = nowMs + MAX_CLOCK_SKEW_MS;
  const details: ErrorDetail[] = [];
  for (const [i, { ts }] of events.entries()) {
    if (details.length === MAX_DETAILS) break;
    if (ts < oldest) details.push({ path: `events.${i}.ts`, message: `ts is more than 7 days in the past; the oldest accepted is ${new Date(oldest).toISOString()}` });
    else if (ts > latest) details.push({ path: `events.${i}.ts`, message: `ts is more than 5 minutes in the future; the latest accepted is ${new Date(latest).toISOString()}` });
  }
  return details;
}

export type ParseBatchResult = { readonly ok: true; readonly batch: CaptureBatch } | { readonly ok: false; readonly details: ErrorDetail[] };

/**
 * Parses an already JSON-decoded body against the contract and the time window as of `now`.
 * Never throws on any body (only on an invalid `now`, which is a bug in the caller).
 * On success every `ts` is epoch milliseconds and every object is a fresh copy of the input.
 * On failure `details` holds 1 to 20 `{path, message}` entries with paths like `events.12.ts`
 * (`(body)` for the body itself). Shape faults are reported before window faults: the window is
 * checked only on a well-shaped batch.
 */
export function parseBatch(json: unknown, now: Date): ParseBatchResult {
  if (!Number.isFinite(now.getTime())) throw new RangeError('now must be a valid Date');
  const parsed = captureBatchSchema.safeParse(json);
  if (!parsed.success) {
    const details = zodDetails(parsed.error).slice(0, MAX_DETAILS);
    // zod reports at least one issue on failure; this keeps the contract even if it did not.
    return { ok: false, details: details.length > 0 ? details : [{ path: '(body)', message: 'the body does not match the contract' }] };
  }
  const window = timeWindowDetails(parsed.data.events, now);
  return window.length > 0 ? { ok: false, details: window } : { ok: true, batch: parsed.data };
}

/** Events by the consent scope they need, in {@link SCOPES} order; scopes without events are absent. */
export function groupByScope(events: readonly CaptureEvent[]): Map<Scope, CaptureEvent[]> {
  const byScope = new Map<Scope, CaptureEvent[]>(SCOPES.map((scope) => [scope, []]));
  for (const event of events) byScope.get(SCOPE_OF_EVENT_KIND[event.kind])?.push(event);
  for (const scope of SCOPES) if (byScope.get(scope)?.length === 0) byScope.delete(scope);
  return byScope;
}

// The body of POST /v1/events: a batch of capture events from one device. The shape is the
// contract; the clock-dependent window on `ts` is checked by the ingest function's parseBatch.
import * as z from './zod.js';
import { ID_PATTERN } from './vocabulary.js';

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
  return z.string().check(
    z.minLength(min),
    z.maxLength(max),
    z.refine((value) => !LONE_SURROGATE.test(value), WELL_FORMED),
  );
}

const id = z.string().check(z.regex(ID_PATTERN, `must match ${ID_PATTERN.source}`));

/** Either form becomes epoch milliseconds; sub-millisecond ISO fractions are truncated. */
const timestamp = z.pipe(
  z.union([z.number({ error: TS_MESSAGE }).check(z.int({ error: TS_MESSAGE })), z.iso.datetime({ offset: true, error: TS_MESSAGE })], { error: TS_MESSAGE }),
  z.transform((value: number | string, ctx) => {
    if (typeof value === 'number') return value;
    const ms = Date.parse(value);
    if (!Number.isFinite(ms)) {
      ctx.issues.push({ code: 'custom', message: TS_MESSAGE, input: value, path: [] });
      return z.NEVER;
    }
    return ms;
  }),
);

const coordinate = z.number().check(z.int(), z.gte(-MAX_COORDINATE), z.lte(MAX_COORDINATE));

// Strict objects: an unknown key (including an own `__proto__` or `constructor` from JSON.parse)
// is an error, so nothing unexpected is ever copied into a stored event.
export const keystrokeEventSchema = z.strictObject({
  kind: z.literal('keystroke'),
  ts: timestamp,
  text: boundedText(1, MAX_TEXT_CHARS),
  app: z.optional(boundedText(1, MAX_APP_CHARS)),
  secureField: z.optional(z.boolean()),
});

export const clickEventSchema = z.strictObject({
  kind: z.literal('click'),
  ts: timestamp,
  x: coordinate,
  y: coordinate,
  button: z.enum(BUTTONS),
  app: z.optional(boundedText(1, MAX_APP_CHARS)),
});

export const appFocusEventSchema = z.strictObject({
  kind: z.literal('app-focus'),
  ts: timestamp,
  app: boundedText(1, MAX_APP_CHARS),
  title: z.optional(boundedText(0, MAX_TITLE_CHARS)),
});

export const captureEventSchema = z.discriminatedUnion('kind', [keystrokeEventSchema, clickEventSchema, appFocusEventSchema]);

const EVENT_COUNT = { error: `a batch holds 1 to ${MAX_EVENTS} events` } as const;

/**
 * The shape of a batch. The clock-dependent window on `ts` is checked by {@link parseBatch}: zod has
 * no per-parse context, and a per-request `.superRefine` clone recompiles zod's object parser
 * (measured ~0.1-0.2 ms and fresh allocations per call, against ~2 µs for this shared schema).
 */
export const captureBatchSchema = z.strictObject({
  batchId: id,
  deviceId: id,
  events: z.array(captureEventSchema).check(z.minLength(1, EVENT_COUNT), z.maxLength(MAX_EVENTS, EVENT_COUNT)),
});

export type CaptureBatch = z.output<typeof captureBatchSchema>;
export type CaptureEvent = CaptureBatch['events'][number];
export type CaptureEventKind = CaptureEvent['kind'];

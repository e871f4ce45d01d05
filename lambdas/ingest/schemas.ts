// Parses the body of POST /v1/events: the batch's shape comes from the contract
// (contract/capture-batch.ts); this adds the clock-dependent window on `ts` and grouping by scope.
import { captureBatchSchema, MAX_CLOCK_SKEW_MS, MAX_DETAILS, MAX_EVENT_AGE_MS, type CaptureBatch, type CaptureEvent } from '../../contract/capture-batch.js';
import { SCOPE_OF_EVENT_KIND, SCOPES, type Scope } from '../../contract/vocabulary.js';
import type { ErrorDetail } from '../shared/errors.js';
import { zodDetails } from '../shared/http.js';

export * from '../../contract/capture-batch.js';

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

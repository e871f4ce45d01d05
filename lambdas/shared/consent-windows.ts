// Consent windows: per scope, the spans of time in which the ledger says that scope was consented
// and not paused. Every ledger event carries them, folded from the previous event's, so ingest
// judges each captured event by its own `ts` from the newest event (one read per batch), and by
// the key's sealed windows, which no ledger writer can widen (sealed-windows.ts).
import { SCOPES, type Scope } from './consent-model.js';
import type { ConsentState } from './consent-state.js';

/** `[from, to)`; an open window (no `to`) lasts until a later event closes it. ISO-8601 instants. */
export interface ConsentWindow {
  readonly from: string;
  readonly to?: string;
}

export type ConsentWindows = Readonly<Partial<Record<Scope, readonly ConsentWindow[]>>>;

/**
 * How far back windows are kept: the oldest `ts` ingest accepts (7 days, lambdas/ingest/schemas.ts)
 * plus 5 minutes for clocks that differ between functions. Older windows can never decide anything.
 */
export const WINDOW_HISTORY_MS = (7 * 24 * 60 + 5) * 60_000;

/**
 * Bounds a ledger item (DynamoDB's limit is 400 KB) against an employee who toggles consent
 * thousands of times a week. Past it the oldest windows are dropped, which only refuses more:
 * an event in a dropped window is judged outside consent (fail closed).
 */
export const MAX_WINDOWS_PER_SCOPE = 200;

interface Span {
  from: number;
  to: number;
}

/** When, from `at` on, the state lets each of its scopes be captured; undefined: never (until a later event). */
function opensAt(state: ConsentState, at: number): number | undefined {
  if (state.status === 'active') return at;
  // A pause ends by itself at `pausedUntil` (the key policy's Deny lapses then), with or without a resume event.
  if (state.status === 'paused' && state.pausedUntil !== undefined) return Math.max(at, Date.parse(state.pausedUntil));
  return undefined;
}

/**
 * The windows after an event at `at` that results in `next`: the previous windows up to `at`
 * (the event rewrites everything from its instant on, including a pause's scheduled end), then
 * what `next` schedules from `at`, pruned to the last {@link WINDOW_HISTORY_MS}. Pure.
 */
export function foldWindows(previous: ConsentWindows, next: ConsentState, at: Date): ConsentWindows {
  const atMs = at.getTime();
  if (!Number.isFinite(atMs)) throw new RangeError('at must be a valid Date');
  const horizon = atMs - WINDOW_HISTORY_MS;
  const opens = opensAt(next, atMs);
  const folded: Partial<Record<Scope, ConsentWindow[]>> = {};
  for (const scope of SCOPES) {
    const kept: Span[] = [];
    for (const window of previous[scope] ?? []) {
      const from = Date.parse(window.from);
      const to = Math.min(window.to === undefined ? Infinity : Date.parse(window.to), atMs);
      // Empty once cut at `at`: a window scheduled after the event (a pause's end) is cancelled.
      if (to <= from || to <= horizon) continue;
      kept.push({ from, to });
    }
    if (opens !== undefined && next.scopes.includes(scope)) {
      const last = kept.at(-1);
      // A change that keeps the scope consented (new notice, another scope added) keeps one window.
      if (last !== undefined && last.to === opens) last.to = Infinity;
      else kept.push({ from: opens, to: Infinity });
    }
    const bounded = kept.slice(-MAX_WINDOWS_PER_SCOPE);
    if (bounded.length > 0) folded[scope] = bounded.map(({ from, to }) => (to === Infinity ? { from: iso(from) } : { from: iso(from), to: iso(to) }));
  }
  return folded;
}

/**
 * The windows a recorded state stands for. A state written before windows existed gets what its
 * own event schedules from its instant on: exact from then, and nothing before it (fail closed:
 * backdated events from before an employee's last change before the upgrade are refused). The
 * alternative, a Query of the last 7 days of events on every batch, would cost ingest a second
 * read for a case that ends with the employee's next consent change.
 */
export function windowsOf(state: ConsentState): ConsentWindows {
  if (state.windows !== undefined) return state.windows;
  if (state.sequence === 0) return {};
  return foldWindows({}, state, new Date(state.updatedAt));
}

/** Windows parsed once per batch, for {@link isInside}. */
export type WindowSpans = ReadonlyMap<Scope, readonly Readonly<Span>[]>;

export function windowSpans(windows: ConsentWindows): WindowSpans {
  const spans = new Map<Scope, Span[]>();
  for (const scope of SCOPES) {
    const list = windows[scope];
    if (list === undefined || list.length === 0) continue;
    spans.set(
      scope,
      list.map((w) => ({ from: Date.parse(w.from), to: w.to === undefined ? Infinity : Date.parse(w.to) })),
    );
  }
  return spans;
}

/** Whether `ts` (epoch ms) falls in a window of `scope`. Windows are few (one per consent change in 7 days), so a scan. */
export function isInside(spans: WindowSpans, scope: Scope, ts: number): boolean {
  const list = spans.get(scope);
  if (list === undefined) return false;
  for (let i = list.length - 1; i >= 0; i--) {
    const span = list[i];
    if (span !== undefined && ts >= span.from && ts < span.to) return true;
  }
  return false;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

// Sealed consent windows: the key steward's own record of the windows it applied, kept in the
// employee key's Description (only the steward may UpdateKeyDescription), so a ledger writer
// cannot add consent to the past. Pure: encode, decode, and the seal that keeps the past fixed.
import { SCOPES, type Scope } from './consent-model.js';
import { WINDOW_HISTORY_MS, type ConsentWindows, type WindowSpans } from './consent-windows.js';

/**
 * How far before its own clock the steward seals: the consent function records a change at its
 * instant and the steward applies it milliseconds later, on another clock. A legitimate change
 * reaches back this far; a forged one can add at most this much past coverage.
 */
export const SEAL_SKEW_MS = 5_000;

/** KMS's limit on a key description. */
export const MAX_DESCRIPTION_CHARS = 8_192;

/** `[from, to)` in epoch ms; `to` Infinity: open. */
export interface SealedSpan {
  readonly from: number;
  readonly to: number;
}

export interface SealedWindows {
  /** From this instant on the record is complete; before it, nothing is sealed (outside consent). */
  readonly since: number;
  readonly windows: Readonly<Partial<Record<Scope, readonly SealedSpan[]>>>;
}

/**
 * The description of a key no consent was applied to yet: nothing sealed, complete from `now`
 * (minus the skew: the first consent is recorded on another function's clock).
 */
export function emptySeal(now: number): SealedWindows {
  return { since: now - SEAL_SKEW_MS, windows: {} };
}

/**
 * The description CreateKey gave an employee key before seals existed. Only our own CreateKey
 * wrote it (adoption replaces whatever a planted key says, and only the steward may rewrite a
 * description), so such a key is one an earlier version made: ingest judges it by the ledger's
 * windows alone, as that version did, and the steward's first seal takes them once (see
 * {@link legacySeal}). Without this, every event of an employee who consented before an upgrade
 * would be dropped as outside consent until their next change.
 */
export function legacyDescriptionOf(employeeId: string): string {
  return `consent-capture: data of employee ${employeeId}`;
}

/**
 * The record a legacy key is taken to have: the ledger's windows as they stand (the trust the
 * earlier version gave them), complete from the history horizon. Used once, by the first seal.
 */
export function legacySeal(event: ConsentWindows, now: number): SealedWindows {
  const windows: Partial<Record<Scope, SealedSpan[]>> = {};
  for (const scope of SCOPES) {
    const spans = spansOf(event[scope]);
    if (spans.length > 0) windows[scope] = spans;
  }
  return { since: now - WINDOW_HISTORY_MS, windows };
}

/**
 * The windows to seal when applying a ledger event's `event` windows at `now`:
 * - before T = now − {@link SEAL_SKEW_MS}: what was sealed before (nothing if `previous` is
 *   undefined: a key whose description is not a seal), and only where the event agrees: the past
 *   can narrow (a pause whose seal was written late, after its policy), never widen;
 * - from T on: the event's windows.
 * `addedPastMs` is how much coverage before T (and after the record's `since`) the event claims
 * that the seal lacks: a forged event, or one applied late; it is never sealed.
 */
export function sealWindows(previous: SealedWindows | undefined, event: ConsentWindows, now: number): { sealed: SealedWindows; addedPastMs: number } {
  const cut = now - SEAL_SKEW_MS;
  const horizon = now - WINDOW_HISTORY_MS;
  // Complete from the cut on whatever came before: the event's windows are written from there. A
  // `since` past the cut (a seal that overflowed on windows far in the future, dropping them and
  // moving past them) would otherwise make the key refuse every event for good.
  const since = Math.min(previous?.since ?? cut, cut);
  const windows: Partial<Record<Scope, SealedSpan[]>> = {};
  let addedPastMs = 0;
  for (const scope of SCOPES) {
    const sealedBefore = clip(previous?.windows[scope] ?? [], -Infinity, cut);
    const claimed = spansOf(event[scope]);
    addedPastMs += uncovered(clip(claimed, Math.max(since, horizon), cut), sealedBefore);
    const before = intersect(sealedBefore, clip(claimed, -Infinity, cut));
    const merged = merge([...before, ...clip(claimed, cut, Infinity)]).filter((span) => span.to > horizon);
    if (merged.length > 0) windows[scope] = merged;
  }
  return { sealed: { since, windows }, addedPastMs };
}

/**
 * Compact versioned JSON: `{"v":1,"s":since,"w":{"clicks":[[from,to|null],...]}}`. Over
 * {@link MAX_DESCRIPTION_CHARS}, the oldest windows are dropped and `since` moves past them:
 * narrowing the record only refuses more (fail closed).
 */
export function encodeSealed(record: SealedWindows): string {
  let current = record;
  for (;;) {
    const text = JSON.stringify({
      v: 1,
      s: current.since,
      w: Object.fromEntries(SCOPES.flatMap((scope) => {
        const spans = current.windows[scope];
        return spans === undefined || spans.length === 0 ? [] : [[scope, spans.map((s) => [s.from, s.to === Infinity ? null : s.to])]];
      })),
    });
    if (text.length <= MAX_DESCRIPTION_CHARS) return text;
    current = dropOldest(current);
  }
}

/**
 * Whether `sealed` lets any scope be captured from now (minus the skew) on where `previous` did
 * not: a grant, a resume or an added scope. Such a seal must be written before the policy that
 * opens capture; any other (a pause, a withdrawal, a repeat) after it, so that the policy, which
 * is what stops capture, never waits for the description.
 */
export function sealOpens(previous: SealedWindows | undefined, sealed: SealedWindows, now: number): boolean {
  const cut = now - SEAL_SKEW_MS;
  // A finite end, so that open windows can be compared: a century is past any key's life.
  const end = cut + 100 * 365 * 24 * 3_600_000;
  return SCOPES.some((scope) => uncovered(clip(sealed.windows[scope] ?? [], cut, end), clip(previous?.windows[scope] ?? [], cut, end)) > 0);
}

/** The record a description holds; undefined for anything else (a key from before seals, a planted text). */
export function decodeSealed(description: string | undefined): SealedWindows | undefined {
  if (description === undefined || description.length > MAX_DESCRIPTION_CHARS || !description.startsWith('{')) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(description);
  } catch {
    return undefined;
  }
  if (!isRecord(json) || json['v'] !== 1 || !isInstant(json['s']) || !isRecord(json['w'])) return undefined;
  const windows: Partial<Record<Scope, SealedSpan[]>> = {};
  for (const [scope, list] of Object.entries(json['w'])) {
    if (!(SCOPES as readonly string[]).includes(scope) || !Array.isArray(list)) return undefined;
    const spans: SealedSpan[] = [];
    for (const pair of list as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) return undefined;
      const [from, to] = pair as unknown[];
      if (!isInstant(from) || !(to === null || (isInstant(to) && to > from))) return undefined;
      spans.push({ from, to: to === null ? Infinity : to });
    }
    windows[scope as Scope] = spans;
  }
  return { since: json['s'], windows };
}

/** The sealed windows as ingest tests them (consent-windows.ts `isInside`); none for no record. */
export function sealedSpans(record: SealedWindows | undefined): WindowSpans {
  const spans = new Map<Scope, readonly SealedSpan[]>();
  if (record === undefined) return spans;
  for (const scope of SCOPES) {
    const list = record.windows[scope];
    // Nothing before `since` counts, whatever a span says.
    const kept = clip(list ?? [], record.since, Infinity);
    if (kept.length > 0) spans.set(scope, kept);
  }
  return spans;
}

function spansOf(windows: ConsentWindows[Scope]): SealedSpan[] {
  return (windows ?? []).map((w) => ({ from: Date.parse(w.from), to: w.to === undefined ? Infinity : Date.parse(w.to) }));
}

/** The parts of `spans` inside `[from, to)`. */
function clip(spans: readonly SealedSpan[], from: number, to: number): SealedSpan[] {
  return spans.flatMap((span) => {
    const clipped = { from: Math.max(span.from, from), to: Math.min(span.to, to) };
    return clipped.from < clipped.to ? [clipped] : [];
  });
}

/** The instants in both `a` and `b`, as sorted, joined spans. */
function intersect(a: readonly SealedSpan[], b: readonly SealedSpan[]): SealedSpan[] {
  const out: SealedSpan[] = [];
  for (const x of a) {
    for (const y of b) {
      const from = Math.max(x.from, y.from);
      const to = Math.min(x.to, y.to);
      if (from < to) out.push({ from, to });
    }
  }
  return merge(out);
}

/** Sorted, overlapping and touching spans joined. */
function merge(spans: readonly SealedSpan[]): SealedSpan[] {
  const sorted = [...spans].sort((a, b) => a.from - b.from);
  const out: { from: number; to: number }[] = [];
  for (const span of sorted) {
    const last = out.at(-1);
    if (last !== undefined && span.from <= last.to) last.to = Math.max(last.to, span.to);
    else out.push({ ...span });
  }
  return out;
}

/** How many ms of `spans` `cover` does not cover (both finite here: clipped before the cut). */
function uncovered(spans: readonly SealedSpan[], cover: readonly SealedSpan[]): number {
  let total = 0;
  for (const span of merge(spans)) {
    let missing = span.to - span.from;
    for (const c of cover) missing -= Math.max(0, Math.min(span.to, c.to) - Math.max(span.from, c.from));
    total += missing;
  }
  return total;
}

function dropOldest(record: SealedWindows): SealedWindows {
  let oldest: { scope: Scope; span: SealedSpan } | undefined;
  for (const scope of SCOPES) {
    const first = record.windows[scope]?.[0];
    if (first !== undefined && (oldest === undefined || first.from < oldest.span.from)) oldest = { scope, span: first };
  }
  if (oldest === undefined) throw new Error('an empty seal cannot exceed the description limit');
  const { scope, span } = oldest;
  // Everything before the dropped window's end is no longer known: the record starts there.
  const since = Math.max(record.since, span.to === Infinity ? span.from : span.to);
  return { since, windows: { ...record.windows, [scope]: (record.windows[scope] ?? []).slice(1) } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isInstant(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

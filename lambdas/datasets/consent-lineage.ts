// Which consent an object was captured under: per scope, the spans of time in which the ledger says
// the scope was consented and not paused, each tagged with the consent (grant or scope change)
// in force and its notice. The same windows ingest judges each event by (consent-windows.ts
// `foldWindows`), over the whole ledger rather than its last 7 days, and with their lineage. Pure.
import type { ConsentLineage } from '../../contract/dataset-manifest.js';
import type { Scope } from '../shared/consent-model.js';
import type { ConsentEvent, ConsentEventKind } from '../shared/consent-state.js';
import { foldWindows } from '../shared/consent-windows.js';

/** Events that record something other than a consent change: they restate the state before them. */
const RESTATING: ReadonlySet<ConsentEventKind> = new Set(['revoke-swept', 'export-requested', 'export-ready', 'datasets-withdrawn']);
/** Events that give consent to a scope, under a notice: what an object's lineage names. */
const CONSENTING: ReadonlySet<ConsentEventKind> = new Set(['granted', 'scopes-changed']);

export interface LineageSpan {
  /** `[from, to)`, epoch ms; `to` is Infinity while the span is open. */
  readonly from: number;
  readonly to: number;
  readonly lineage: ConsentLineage;
}

export type LineageSpans = ReadonlyMap<Scope, readonly LineageSpan[]>;

/**
 * The consented spans per scope over `events` (oldest first). Each consent-changing event opens,
 * from its instant, what its state schedules (a pause opens at its end: it lapses by itself), and
 * closes what the previous one opened. A span's lineage is the newest granting event at or before
 * it and that event's notice.
 */
export function lineageSpans(events: readonly ConsentEvent[]): LineageSpans {
  const changes = events.filter((e) => !RESTATING.has(e.kind)).sort((a, b) => a.sequence - b.sequence);
  const spans = new Map<Scope, LineageSpan[]>();
  // Each later change cuts what an earlier one opened at its own instant, as foldWindows does; a
  // clock that stepped back (two functions' clocks) cuts at the earliest later instant.
  const closing: number[] = new Array<number>(changes.length).fill(Infinity);
  for (let i = changes.length - 2; i >= 0; i -= 1) closing[i] = Math.min(closing[i + 1] ?? Infinity, Date.parse(changes[i + 1]?.at ?? ''));
  let consent: ConsentEvent | undefined;
  changes.forEach((event, i) => {
    if (CONSENTING.has(event.kind)) consent = event;
    const at = Date.parse(event.at);
    const closes = closing[i] ?? Infinity;
    const { noticeVersion, noticeSha256 } = event.state;
    if (consent === undefined || noticeVersion === undefined || noticeSha256 === undefined) return;
    const lineage: ConsentLineage = { consentSeq: consent.sequence, noticeVersion, noticeSha256 };
    // What this event alone schedules from its instant: the windows ingest folds, one event at a time.
    const opened = foldWindows({}, event.state, new Date(at));
    for (const [scope, windows] of Object.entries(opened) as [Scope, readonly { from: string }[]][]) {
      for (const window of windows) {
        const from = Date.parse(window.from);
        if (from < closes) spans.set(scope, [...(spans.get(scope) ?? []), { from, to: closes, lineage }]);
      }
    }
  });
  return spans;
}

/**
 * The lineage of an object of `scope` whose events lie in `[from, to]`, when the whole range lies
 * in consented time (spans that touch count as one: a notice change keeps the scope consented);
 * undefined otherwise. The lineage is that of the span holding the object's first event.
 */
export function lineageOf(spans: LineageSpans, scope: Scope, from: number, to: number): ConsentLineage | undefined {
  const list = spans.get(scope) ?? [];
  const first = list.findIndex((s) => from >= s.from && from < s.to);
  const start = list[first];
  if (start === undefined) return undefined;
  let end = start.to;
  for (let i = first + 1; i < list.length && end < Infinity; i += 1) {
    const span = list[i];
    if (span === undefined || span.from !== end) break;
    end = span.to;
  }
  return to < end ? start.lineage : undefined;
}

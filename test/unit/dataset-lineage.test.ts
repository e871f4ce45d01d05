// The consent lineage of dataset objects (lambdas/datasets/consent-lineage.ts) against ingest's
// own consent windows: over any sequence of consent changes, an instant is inside a lineage span
// iff ingest's windows (folded event by event) say the scope was consented and unpaused then, and
// the span names the newest grant at or before it. Plus the object-range rules, by example.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_CHANGE, transition, type ConsentCommand } from '../../lambdas/consent/transitions.js';
import { lineageOf, lineageSpans } from '../../lambdas/datasets/consent-lineage.js';
import { MAX_CLOCK_SKEW_MS, MAX_EVENT_AGE_MS } from '../../lambdas/ingest/schemas.js';
import { SCOPES, type Scope } from '../../lambdas/shared/consent-model.js';
import { initialState, type ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { isInside, windowSpans, windowsOf } from '../../lambdas/shared/consent-windows.js';
import { ConflictError } from '../../lambdas/shared/errors.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const T0 = Date.parse('2026-11-20T09:00:00.000Z');
const notice = (version: string) => ({ noticeVersion: version, noticeSha256: (version === 'v1' ? 'a' : 'b').repeat(64) });
const grant = (scopes: readonly Scope[], version = 'v1'): ConsentCommand => ({ type: 'grant', scopes, ...notice(version) });

/** Applies commands through the pure transition, as the consent service does, into ledger events. */
function replay(steps: readonly { readonly at: number; readonly command: ConsentCommand }[]): ConsentEvent[] {
  let current = initialState('e-1', new Date(T0).toISOString());
  const events: ConsentEvent[] = [];
  for (const { at, command } of steps) {
    let decided;
    try {
      decided = transition(current, command, new Date(at));
    } catch (error) {
      if (error instanceof ConflictError) continue;
      throw error;
    }
    if (decided === NO_CHANGE) continue;
    current = decided.state;
    events.push({ employeeId: 'e-1', sequence: current.sequence, kind: decided.kind, at: new Date(at).toISOString(), actor: { kind: 'service', name: 'purge-worker' }, state: current });
  }
  return events;
}

describe('lineage spans, by example', () => {
  const events = replay([
    { at: T0, command: grant(['keystrokes']) },
    { at: T0 + 10 * MINUTE, command: { type: 'pause', until: new Date(T0 + 70 * MINUTE) } },
    { at: T0 + 20 * MINUTE, command: { type: 'resume' } },
    { at: T0 + 30 * MINUTE, command: grant(['keystrokes', 'clicks'], 'v2') },
    { at: T0 + 40 * MINUTE, command: { type: 'revoke', erase: false } },
  ]);
  const spans = lineageSpans(events);

  it('names the grant in force, across a pause and resume', () => {
    expect(lineageOf(spans, 'keystrokes', T0 + MINUTE, T0 + 2 * MINUTE)).toEqual({ consentSeq: 1, ...notice('v1') });
    expect(lineageOf(spans, 'keystrokes', T0 + 21 * MINUTE, T0 + 22 * MINUTE)).toEqual({ consentSeq: 1, ...notice('v1') });
  });

  it('leaves out an object with any event in a pause, before consent or after withdrawal', () => {
    expect(lineageOf(spans, 'keystrokes', T0 + 15 * MINUTE, T0 + 15 * MINUTE)).toBeUndefined();
    expect(lineageOf(spans, 'keystrokes', T0 + 5 * MINUTE, T0 + 15 * MINUTE)).toBeUndefined();
    expect(lineageOf(spans, 'keystrokes', T0 - 1, T0 + MINUTE)).toBeUndefined();
    expect(lineageOf(spans, 'keystrokes', T0 + 39 * MINUTE, T0 + 40 * MINUTE)).toBeUndefined();
  });

  it('keeps an object across a change that keeps its scope, with the lineage of its first event', () => {
    expect(lineageOf(spans, 'keystrokes', T0 + 29 * MINUTE, T0 + 31 * MINUTE)).toEqual({ consentSeq: 1, ...notice('v1') });
    expect(lineageOf(spans, 'keystrokes', T0 + 31 * MINUTE, T0 + 32 * MINUTE)).toEqual({ consentSeq: 4, ...notice('v2') });
  });

  it('gives an added scope only the time since it was added', () => {
    expect(lineageOf(spans, 'clicks', T0 + 29 * MINUTE, T0 + 29 * MINUTE)).toBeUndefined();
    expect(lineageOf(spans, 'clicks', T0 + 30 * MINUTE, T0 + 30 * MINUTE)).toEqual({ consentSeq: 4, ...notice('v2') });
  });

  it('ignores events that change no consent (a datasets-withdrawn restating the state)', () => {
    const last = events.at(-1);
    if (last === undefined) throw new Error('no events');
    const restated: ConsentEvent = { ...last, sequence: last.sequence + 1, kind: 'datasets-withdrawn', at: new Date(T0 + 50 * MINUTE).toISOString(), state: { ...last.state, sequence: last.sequence + 1 } };
    expect(lineageSpans([...events, restated])).toEqual(spans);
  });
});

const scopes = fc.subarray([...SCOPES], { minLength: 1 });
const command: fc.Arbitrary<ConsentCommand> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(scopes, fc.constantFrom('v1', 'v2')).map(([s, v]) => grant(s, v)) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 10_080 }).map((minutes) => ({ type: 'pause' as const, until: new Date(minutes * MINUTE) })) },
  { weight: 2, arbitrary: fc.constant<ConsentCommand>({ type: 'resume' }) },
  { weight: 1, arbitrary: fc.constant<ConsentCommand>({ type: 'revoke', erase: false }) },
);
const gap = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 3 * DAY }) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -2_000, max: -1 }) });
const scenario = fc.array(fc.tuple(gap, command), { minLength: 1, maxLength: 30 }).map((pairs) => {
  let clock = T0;
  return pairs.map(([g, c]) => {
    clock += g;
    return { at: clock, command: c.type === 'pause' ? { type: 'pause' as const, until: new Date(clock + c.until.getTime()) } : c };
  });
});

describe('lineage spans against ingest\'s windows (property)', () => {
  it('puts an instant in a span iff ingest\'s windows do, naming the newest grant before it', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 20, maxLength: 20 }), (steps, probes) => {
        const events = replay(steps);
        const newest = events.at(-1)?.state;
        if (newest === undefined) return;
        const windows = windowSpans(windowsOf(newest));
        const spans = lineageSpans(events);
        const last = steps.at(-1)?.at ?? T0;
        // Ingest's windows reach back 7 days from the newest change; lineage spans reach further.
        const lo = last - MAX_EVENT_AGE_MS;
        const boundaries = events.flatMap((e) => [Date.parse(e.at) - 1, Date.parse(e.at), Date.parse(e.at) + 1]);
        const tss = probes.map((u) => Math.floor(lo + u * (MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS))).concat(boundaries.filter((ts) => ts >= lo));
        for (const ts of tss) {
          for (const scope of SCOPES) {
            const lineage = lineageOf(spans, scope, ts, ts);
            expect(lineage !== undefined, `${scope} at ${new Date(ts).toISOString()}`).toBe(isInside(windows, scope, ts));
            if (lineage === undefined) continue;
            const grantBefore = events.filter((e) => (e.kind === 'granted' || e.kind === 'scopes-changed') && Date.parse(e.at) <= ts).at(-1);
            // The newest grant at or before ts, by sequence (a clock stepping back keeps the order of the ledger).
            const bySequence = events.filter((e) => (e.kind === 'granted' || e.kind === 'scopes-changed') && e.sequence <= (events.filter((x) => Date.parse(x.at) <= ts).at(-1)?.sequence ?? 0)).at(-1);
            expect([grantBefore?.sequence, bySequence?.sequence]).toContain(lineage.consentSeq);
          }
        }
      }),
      { numRuns: 300, seed: fastCheckSeed(20_261_130) },
    );
  });
});

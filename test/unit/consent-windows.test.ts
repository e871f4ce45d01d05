// The consent windows folded by the pure transition function, against a reference model that
// replays the whole event list: an event of (scope, ts) is inside a window iff the newest ledger
// event at or before ts leaves that scope consented and not paused at ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_CHANGE, transition, type ConsentCommand } from '../../lambdas/consent/transitions.js';
import { MAX_CLOCK_SKEW_MS, MAX_EVENT_AGE_MS } from '../../lambdas/ingest/schemas.js';
import { SCOPES, type Scope } from '../../lambdas/shared/consent-model.js';
import { effectiveState, initialState, type ConsentState } from '../../lambdas/shared/consent-state.js';
import { foldWindows, isInside, MAX_WINDOWS_PER_SCOPE, WINDOW_HISTORY_MS, windowSpans, windowsOf } from '../../lambdas/shared/consent-windows.js';
import { ConflictError } from '../../lambdas/shared/errors.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const T0 = Date.parse('2026-11-20T09:00:00.000Z');
const NOTICE = { noticeVersion: '2026-11', noticeSha256: 'a'.repeat(64) };

interface Recorded {
  readonly at: number;
  readonly state: ConsentState;
}

/** Applies commands at their instants through the pure transition, as the consent service does; refused commands record nothing. */
function replay(steps: readonly { readonly at: number; readonly command: ConsentCommand }[]): { events: Recorded[]; newest: ConsentState } {
  let current = initialState('e-1', new Date(T0).toISOString());
  const events: Recorded[] = [];
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
    events.push({ at, state: current });
  }
  return { events, newest: current };
}

/** The reference: the newest event (in ledger order) at or before ts decides, read with the clock at ts. */
function consentedAt(events: readonly Recorded[], scope: Scope, ts: number): boolean {
  const deciding = events.filter((e) => e.at <= ts).at(-1);
  if (deciding === undefined) return false;
  const seen = effectiveState(deciding.state, new Date(ts));
  return seen.status === 'active' && seen.scopes.includes(scope);
}

const at = (minutes: number) => new Date(T0 + minutes * MINUTE);
const grant = (scopes: Scope[]): ConsentCommand => ({ type: 'grant', scopes, ...NOTICE });

describe('foldWindows', () => {
  it('opens a window at a grant, cuts it at a pause and reopens it at the resume', () => {
    // Act
    const { newest } = replay([
      { at: at(0).getTime(), command: grant(['clicks']) },
      { at: at(10).getTime(), command: { type: 'pause', until: at(70) } },
      { at: at(30).getTime(), command: { type: 'resume' } },
    ]);

    // Assert
    expect(newest.windows).toEqual({ clicks: [{ from: at(0).toISOString(), to: at(10).toISOString() }, { from: at(30).toISOString() }] });
  });

  it('reopens a window at pausedUntil by itself when no resume comes', () => {
    const { newest } = replay([
      { at: at(0).getTime(), command: grant(['clicks', 'keystrokes']) },
      { at: at(10).getTime(), command: { type: 'pause', until: at(70) } },
    ]);

    const spans = windowSpans(windowsOf(newest));

    expect(newest.windows?.clicks).toEqual([{ from: at(0).toISOString(), to: at(10).toISOString() }, { from: at(70).toISOString() }]);
    expect([isInside(spans, 'clicks', at(69).getTime() + MINUTE - 1), isInside(spans, 'clicks', at(70).getTime())]).toEqual([false, true]);
  });

  it('a revoke during a pause cancels the scheduled end of the pause', () => {
    const { newest } = replay([
      { at: at(0).getTime(), command: grant(['clicks']) },
      { at: at(10).getTime(), command: { type: 'pause', until: at(70) } },
      { at: at(20).getTime(), command: { type: 'revoke', erase: false } },
    ]);

    expect(newest.windows).toEqual({ clicks: [{ from: at(0).toISOString(), to: at(10).toISOString() }] });
  });

  it('keeps one window across a change that keeps the scope, and starts an added scope at the change', () => {
    const { newest } = replay([
      { at: at(0).getTime(), command: grant(['clicks']) },
      { at: at(5).getTime(), command: grant(['clicks', 'keystrokes']) },
    ]);

    expect(newest.windows).toEqual({ clicks: [{ from: at(0).toISOString() }], keystrokes: [{ from: at(5).toISOString() }] });
  });

  it('prunes windows that ended before the oldest ts ingest accepts (7 days + 5 minutes)', () => {
    const { newest } = replay([
      { at: at(0).getTime(), command: grant(['clicks']) },
      { at: at(10).getTime(), command: { type: 'revoke', erase: false } },
      { at: at(10).getTime() + WINDOW_HISTORY_MS - 1, command: grant(['clicks']) },
      { at: at(10).getTime() + WINDOW_HISTORY_MS, command: grant(['keystrokes']) },
    ]);

    expect(newest.windows?.clicks).toEqual([{ from: new Date(at(10).getTime() + WINDOW_HISTORY_MS - 1).toISOString(), to: new Date(at(10).getTime() + WINDOW_HISTORY_MS).toISOString() }]);
  });

  it('keeps the history the 7-day ts window and the clock skew need', () => {
    expect(WINDOW_HISTORY_MS).toBeGreaterThanOrEqual(MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS);
  });

  it('bounds the windows per scope, dropping the oldest (fail closed)', () => {
    // Arrange: many pause/resume pairs within a day.
    const steps: { at: number; command: ConsentCommand }[] = [{ at: T0, command: grant(['clicks']) }];
    for (let n = 0; n < MAX_WINDOWS_PER_SCOPE + 10; n += 1) {
      steps.push({ at: T0 + (2 * n + 1) * 1000, command: { type: 'pause', until: new Date(T0 + DAY) } });
      steps.push({ at: T0 + (2 * n + 2) * 1000, command: { type: 'resume' } });
    }

    // Act
    const { newest } = replay(steps);

    // Assert
    const clicks = newest.windows?.clicks ?? [];
    expect(clicks).toHaveLength(MAX_WINDOWS_PER_SCOPE);
    expect(isInside(windowSpans(windowsOf(newest)), 'clicks', T0)).toBe(false);
    expect(clicks.at(-1)).toEqual({ from: new Date(T0 + (2 * (MAX_WINDOWS_PER_SCOPE + 9) + 2) * 1000).toISOString() });
  });

  it('derives the windows of a state written before windows existed from its own event only (nothing before it)', () => {
    const legacy: ConsentState = { employeeId: 'e-1', status: 'paused', scopes: ['clicks'], pausedUntil: at(60).toISOString(), sequence: 4, updatedAt: at(0).toISOString() };

    const spans = windowSpans(windowsOf(legacy));

    expect([at(-1), at(0), at(59), at(60)].map((d) => isInside(spans, 'clicks', d.getTime()))).toEqual([false, false, false, true]);
    expect(windowsOf(initialState('e-1', at(0).toISOString()))).toEqual({});
  });

  it('treats events dated exactly at a change by the change: [from, to)', () => {
    const spans = windowSpans(foldWindows({}, { employeeId: 'e', status: 'active', scopes: ['clicks'], sequence: 1, updatedAt: at(0).toISOString() }, at(0)));

    expect([isInside(spans, 'clicks', at(0).getTime() - 1), isInside(spans, 'clicks', at(0).getTime()), isInside(spans, 'app-focus', at(1).getTime())]).toEqual([false, true, false]);
  });
});

// ---------------------------------------------------------------------------------------------
// The property

const scopes = fc.subarray([...SCOPES], { minLength: 1 });
const command: fc.Arbitrary<ConsentCommand> = fc.oneof(
  { weight: 3, arbitrary: scopes.map((s) => grant(s)) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 10_080 }).map((minutes) => ({ type: 'pause' as const, until: new Date(minutes * MINUTE) })) },
  { weight: 2, arbitrary: fc.constant<ConsentCommand>({ type: 'resume' }) },
  { weight: 1, arbitrary: fc.constant<ConsentCommand>({ type: 'revoke', erase: false }) },
);
/** Gaps between changes: mostly minutes to days, sometimes 0 (two changes in one millisecond) or a few ms back (clocks of two functions). */
const gap = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 3 * DAY }) },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: -2_000, max: -1 }) },
);
const scenario = fc.array(fc.tuple(gap, command), { minLength: 1, maxLength: 30 }).map((pairs) => {
  let clock = T0;
  return pairs.map(([g, c]) => {
    clock += g;
    // A pause's `until` is relative to when it is asked for.
    const resolved: ConsentCommand = c.type === 'pause' ? { type: 'pause', until: new Date(clock + c.until.getTime()) } : c;
    return { at: clock, command: resolved };
  });
});

describe('foldWindows against a replay of the ledger (property)', () => {
  it('says a (scope, ts) is inside a window iff the newest event at or before ts leaves the scope consented and unpaused', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.tuple(fc.constantFrom(...SCOPES), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 20, maxLength: 20 }), (steps, probes) => {
        const { events, newest } = replay(steps);
        const spans = windowSpans(windowsOf(newest));
        const last = steps.at(-1)?.at ?? T0;
        // Every ts ingest may still accept after the newest change: [last - 7 days, last + 5 minutes],
        // plus each change's instant and its neighbours (the boundaries).
        const lo = last - MAX_EVENT_AGE_MS;
        const instants = events.flatMap((e) => [e.at - 1, e.at, e.at + 1]).concat(events.flatMap((e) => (e.state.pausedUntil === undefined ? [] : [Date.parse(e.state.pausedUntil) - 1, Date.parse(e.state.pausedUntil)])));
        const tss = probes.map(([, u]) => Math.floor(lo + u * (MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS))).concat(instants.filter((ts) => ts >= lo));
        for (const ts of tss) {
          for (const scope of SCOPES) {
            expect(isInside(spans, scope, ts), `${scope} at ${new Date(ts).toISOString()}`).toBe(consentedAt(events, scope, ts));
          }
        }
      }),
      { numRuns: 300, seed: 20_261_126 },
    );
  });
});

// The sealed consent windows (the key steward's record in the key description): a seal keeps
// what was sealed before now − skew where the event agrees, and takes its windows from then on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../../lambdas/shared/consent-model.js';
import { isInside, WINDOW_HISTORY_MS, type ConsentWindows } from '../../lambdas/shared/consent-windows.js';
import {
  decodeSealed,
  emptySeal,
  encodeSealed,
  MAX_DESCRIPTION_CHARS,
  SEAL_SKEW_MS,
  sealedSpans,
  sealWindows,
  type SealedSpan,
  type SealedWindows,
} from '../../lambdas/shared/sealed-windows.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

const MINUTE = 60_000;
const NOW = Date.parse('2026-11-30T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** Whether the seal covers `ts` for `scope`, as ingest asks it. */
function sealedAt(record: SealedWindows | undefined, scope: Scope, ts: number): boolean {
  return isInside(sealedSpans(record), scope, ts);
}

describe('sealWindows', () => {
  it('keeps a real pause sealed when a later event claims the pause was consented', () => {
    // Arrange: granted at -60 min, paused -40..-20 min, sealed as it happened.
    const granted = NOW - 60 * MINUTE;
    const sealed: SealedWindows = { since: granted - SEAL_SKEW_MS, windows: { clicks: [{ from: granted, to: NOW - 40 * MINUTE }, { from: NOW - 20 * MINUTE, to: Infinity }] } };
    const forged: ConsentWindows = { clicks: [{ from: iso(granted) }] };

    // Act
    const { sealed: next, addedPastMs } = sealWindows(sealed, forged, NOW);

    // Assert
    expect(sealedAt(next, 'clicks', NOW - 30 * MINUTE)).toBe(false);
    expect(sealedAt(next, 'clicks', NOW - 50 * MINUTE)).toBe(true);
    expect(sealedAt(next, 'clicks', NOW + MINUTE)).toBe(true);
    expect(addedPastMs).toBe(20 * MINUTE);
  });

  it('lets a change made now close the windows from now on, and a forged narrowing narrow', () => {
    // Arrange
    const sealed: SealedWindows = { since: 0, windows: { clicks: [{ from: NOW - 60 * MINUTE, to: Infinity }] } };
    const narrowed: ConsentWindows = { clicks: [{ from: iso(NOW - 60 * MINUTE), to: iso(NOW - 30 * MINUTE) }] };

    // Act
    const { sealed: next, addedPastMs } = sealWindows(sealed, narrowed, NOW);

    // Assert: the past narrows to where the event agrees (a seal written late, after a pause's
    // policy, still records the pause); from the cut on, the event's (empty) windows.
    expect(sealedAt(next, 'clicks', NOW - 40 * MINUTE)).toBe(true);
    expect(sealedAt(next, 'clicks', NOW - 10 * MINUTE)).toBe(false);
    expect(sealedAt(next, 'clicks', NOW - SEAL_SKEW_MS)).toBe(false);
    expect(sealedAt(next, 'clicks', NOW + MINUTE)).toBe(false);
    expect(addedPastMs).toBe(0);
  });

  // A steward that read the grant, then wrote after the pause was sealed, reopened the pause from
  // its late cut; the pause applied again must close it (was: kept as sealed past for good).
  it('closes what a stale write reopened when the newer event is applied again', () => {
    // Arrange: granted at -60, paused at -50 (sealed), then the grant sealed again at -40 by a stale steward.
    const grant: ConsentWindows = { clicks: [{ from: iso(NOW - 60 * MINUTE) }] };
    const pause: ConsentWindows = { clicks: [{ from: iso(NOW - 60 * MINUTE), to: iso(NOW - 50 * MINUTE) }] };
    const granted = sealWindows(emptySeal(NOW - 60 * MINUTE), grant, NOW - 60 * MINUTE).sealed;
    const paused = sealWindows(granted, pause, NOW - 50 * MINUTE).sealed;
    const stale = sealWindows(paused, grant, NOW - 40 * MINUTE).sealed;

    // Act
    const { sealed: next } = sealWindows(stale, pause, NOW - 30 * MINUTE);

    // Assert
    expect(sealedAt(stale, 'clicks', NOW - 35 * MINUTE)).toBe(true);
    expect(sealedAt(next, 'clicks', NOW - 35 * MINUTE)).toBe(false);
    expect(sealedAt(next, 'clicks', NOW - 55 * MINUTE)).toBe(true);
  });

  it('opens a consent granted now, on a key with an empty seal', () => {
    // Act
    const { sealed, addedPastMs } = sealWindows(emptySeal(NOW - 100), { keystrokes: [{ from: iso(NOW - 50) }] }, NOW);

    // Assert
    expect(sealedAt(sealed, 'keystrokes', NOW - 50)).toBe(true);
    expect(sealedAt(sealed, 'keystrokes', NOW - 51)).toBe(false);
    expect(sealedAt(sealed, 'clicks', NOW)).toBe(false);
    expect(addedPastMs).toBe(0);
  });

  it('seals nothing before the cut for a key without a seal, and raises nothing for it', () => {
    // Act
    const { sealed, addedPastMs } = sealWindows(undefined, { clicks: [{ from: iso(NOW - 60 * MINUTE) }] }, NOW);

    // Assert
    expect(sealed.since).toBe(NOW - SEAL_SKEW_MS);
    expect(sealedAt(sealed, 'clicks', NOW - 10 * MINUTE)).toBe(false);
    expect(sealedAt(sealed, 'clicks', NOW - SEAL_SKEW_MS)).toBe(true);
    expect(addedPastMs).toBe(0);
  });

  it('gives the same seal when the same event is applied again much later (a key-sync repair)', () => {
    // Arrange
    const event: ConsentWindows = { clicks: [{ from: iso(NOW - 60 * MINUTE), to: iso(NOW - 40 * MINUTE) }, { from: iso(NOW - 20 * MINUTE) }] };
    const first = sealWindows(emptySeal(NOW - 61 * MINUTE), { clicks: [{ from: iso(NOW - 60 * MINUTE) }] }, NOW - 60 * MINUTE + 10).sealed;
    const paused = sealWindows(first, { clicks: [{ from: iso(NOW - 60 * MINUTE), to: iso(NOW - 40 * MINUTE) }] }, NOW - 40 * MINUTE + 10).sealed;
    const resumed = sealWindows(paused, event, NOW - 20 * MINUTE + 10).sealed;

    // Act
    const repaired = sealWindows(resumed, event, NOW + 300 * MINUTE);

    // Assert
    expect(repaired.sealed).toEqual(resumed);
    expect(repaired.addedPastMs).toBe(0);
  });

  it('is complete from the cut on even when the previous seal\'s `since` lies beyond it', () => {
    // Arrange: a seal that overflowed on windows in 2100 and moved `since` past them.
    const broken: SealedWindows = { since: Date.parse('2100-01-01T00:00:00.000Z'), windows: {} };

    // Act
    const { sealed } = sealWindows(broken, { clicks: [{ from: iso(NOW - MINUTE) }] }, NOW);

    // Assert
    expect(sealed.since).toBe(NOW - SEAL_SKEW_MS);
    expect(sealedAt(sealed, 'clicks', NOW + MINUTE)).toBe(true);
  });

  it('prunes windows that ended before the history horizon', () => {
    // Arrange
    const old = NOW - WINDOW_HISTORY_MS - 10 * MINUTE;
    const sealed: SealedWindows = { since: 0, windows: { clicks: [{ from: old, to: old + MINUTE }, { from: NOW - MINUTE * 60, to: Infinity }] } };

    // Act
    const next = sealWindows(sealed, { clicks: [{ from: iso(NOW - 60 * MINUTE) }] }, NOW).sealed;

    // Assert
    expect(next.windows.clicks).toEqual([{ from: NOW - 60 * MINUTE, to: Infinity }]);
  });
});

describe('encodeSealed and decodeSealed', () => {
  it('encode compactly with a version', () => {
    expect(encodeSealed({ since: 5, windows: { clicks: [{ from: 10, to: 20 }, { from: 30, to: Infinity }] } })).toBe('{"v":1,"s":5,"w":{"clicks":[[10,20],[30,null]]}}');
  });

  it('drop the oldest windows past 8,192 characters and move `since` past them (fail closed)', () => {
    // Arrange: 400 one-minute windows, far more than fit.
    const spans: SealedSpan[] = Array.from({ length: 400 }, (_, i) => ({ from: NOW - (400 - i) * 2 * MINUTE, to: NOW - (400 - i) * 2 * MINUTE + MINUTE }));
    const record: SealedWindows = { since: 0, windows: { clicks: spans } };

    // Act
    const text = encodeSealed(record);
    const decoded = decodeSealed(text);

    // Assert
    expect(text.length).toBeLessThanOrEqual(MAX_DESCRIPTION_CHARS);
    const kept = decoded?.windows.clicks ?? [];
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.at(-1)).toEqual(spans.at(-1));
    const firstKept = kept[0];
    if (firstKept === undefined || decoded === undefined) throw new Error('expected windows');
    expect(decoded.since).toBeGreaterThan(0);
    expect(decoded.since).toBeLessThanOrEqual(firstKept.from);
    expect(sealedAt(decoded, 'clicks', spans[0]?.from ?? 0)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['a human description', 'consent-capture: data of employee e-1'],
    ['another version', '{"v":2,"s":0,"w":{}}'],
    ['an unknown scope', '{"v":1,"s":0,"w":{"screens":[[0,null]]}}'],
    ['an empty window', '{"v":1,"s":0,"w":{"clicks":[[10,10]]}}'],
    ['a string instant', '{"v":1,"s":0,"w":{"clicks":[["0",null]]}}'],
    ['no since', '{"v":1,"w":{}}'],
    ['broken JSON', '{"v":1,'],
  ])('decode %s to no seal, which seals nothing', (_, description) => {
    const decoded = decodeSealed(description);

    expect(decoded).toBeUndefined();
    for (const scope of SCOPES) expect(sealedAt(decoded, scope, NOW)).toBe(false);
  });
});

describe('sealWindows properties', () => {
  const span = fc.tuple(fc.integer({ min: -120, max: 120 }), fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }));
  const spans = fc.array(span, { maxLength: 6 });
  /** Minutes around NOW to sorted windows, as the ledger and the seal keep them. */
  function toWindows(list: readonly (readonly [number, number | undefined])[]): { from: number; to: number }[] {
    return list.map(([from, length]) => ({ from: NOW + from * MINUTE, to: length === undefined ? Infinity : NOW + (from + length) * MINUTE }));
  }
  const probes = fc.array(fc.integer({ min: -130, max: 250 }), { minLength: 1, maxLength: 20 });

  it('never adds coverage before the cut (there it keeps what both the seal and the event cover), keeps the event\'s coverage from the cut on, and round-trips', () => {
    fc.assert(
      fc.property(spans, spans, probes, fc.integer({ min: 0, max: 60_000 }), (previousList, eventList, minutes, jitter) => {
        // Arrange
        const previous: SealedWindows = { since: NOW - 200 * MINUTE, windows: { clicks: toWindows(previousList).sort((a, b) => a.from - b.from) } };
        const event: ConsentWindows = { clicks: toWindows(eventList).map((w) => (w.to === Infinity ? { from: iso(w.from) } : { from: iso(w.from), to: iso(w.to) })) };
        const now = NOW + jitter;
        const cut = now - SEAL_SKEW_MS;

        // Act
        const { sealed } = sealWindows(previous, event, now);
        const decoded = decodeSealed(encodeSealed(sealed));

        // Assert
        for (const m of minutes) {
          const ts = NOW + m * MINUTE + 7;
          const inEvent = toWindows(eventList).some((w) => ts >= w.from && ts < w.to);
          const wasSealed = toWindows(previousList).some((w) => ts >= w.from && ts < w.to);
          const nowSealed = sealedAt(sealed, 'clicks', ts);
          if (ts < cut && nowSealed !== (wasSealed && inEvent)) return false;
          if (ts >= cut && nowSealed !== inEvent) return false;
          if (sealedAt(decoded, 'clicks', ts) !== nowSealed) return false;
        }
        return true;
      }),
      { seed: fastCheckSeed(83_001), numRuns: 300 },
    );
  });
});

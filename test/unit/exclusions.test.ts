// The exclusions matcher shared by the agent and ingest: globs agree with a reference regular
// expression on small alphabets, matching is bounded, and what follows an excluded focus is excluded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyExclusions, ExclusionTracker, globMatches } from '../../contract/exclusions.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

function reference(pattern: string, text: string): boolean {
  const source = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 'isu').test(text);
}

describe('globMatches', () => {
  it('agrees with a reference regular expression', () => {
    const pattern = fc.string({ unit: fc.constantFrom('a', 'B', '*', '?', 'é', '😀'), maxLength: 8 });
    const text = fc.string({ unit: fc.constantFrom('a', 'b', 'A', 'é', '😀'), maxLength: 10 });
    fc.assert(
      fc.property(pattern, text, (p, t) => globMatches(p, t) === reference(p, t)),
      { seed: fastCheckSeed(1401), numRuns: 2000 },
    );
  });

  it('gives up (undefined) once its step budget is spent, and spends it across calls', () => {
    const budget = { steps: 10_000 };
    const slow = `*${'a'.repeat(200)}b`;
    expect(globMatches(slow, 'a'.repeat(1000), budget)).toBeUndefined();
    expect(globMatches('x', 'x', budget)).toBeUndefined();
    expect(globMatches(slow, 'a'.repeat(1000))).toBe(false);
  });
});

describe('applyExclusions', () => {
  const at = (ts: number, e: Record<string, unknown>) => ({ ts, kind: 'keystroke', ...e });

  it('drops excluded apps case-insensitively, titles by pattern, and keystrokes and clicks after an excluded focus', () => {
    const events = [
      at(1, { text: 'a', app: 'Editor' }),
      at(2, { text: 'b', app: 'KEEPASS' }),
      at(3, { kind: 'app-focus', app: 'browser', title: 'Online Bank' }),
      at(4, { kind: 'click' }),
      at(5, { kind: 'app-focus', app: 'editor', title: 'notes' }),
      at(6, { text: 'c' }),
    ];
    const { kept, excluded } = applyExclusions(events, { apps: ['keepass'], titlePatterns: ['*bank*'] });
    expect(kept.map((e) => e.ts)).toEqual([1, 5, 6]);
    expect(excluded).toBe(3);
  });

  it('judges in ts order, not in the order sent', () => {
    const events = [at(6, { text: 'after' }), at(5, { kind: 'app-focus', app: 'x', title: 'bank' }), at(1, { text: 'before' })];
    expect(applyExclusions(events, { apps: [], titlePatterns: ['bank'] }).kept.map((e) => e.ts)).toEqual([1]);
  });

  it('counts a title it cannot judge within budget as excluded (fail closed)', () => {
    const tracker = new ExclusionTracker({ apps: [], titlePatterns: [`*${'a'.repeat(200)}b`] }, 1000);
    expect(tracker.excludes({ kind: 'app-focus', app: 'x', title: 'a'.repeat(1000) })).toBe(true);
    expect(tracker.excludes({ kind: 'keystroke' })).toBe(true);
  });

  it('keeps everything when there are no exclusions', () => {
    expect(applyExclusions([at(1, { text: 'a', app: '' })], { apps: [], titlePatterns: [] })).toEqual({ kept: [at(1, { text: 'a', app: '' })], excluded: 0 });
  });
});

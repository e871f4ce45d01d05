// Attacks on the exclusions matcher's cost (contract/exclusions.ts): an employee sets the longest
// patterns the contract allows and their agent sends the most app-focus events a batch allows.
// Ingest matches every title against every pattern, so whatever the matcher does per call must be
// inside the step budget that bounds a batch to about 0.1 s.
import { describe, expect, it } from 'vitest';
import { MAX_EVENTS, MAX_TITLE_CHARS } from '../../contract/capture-batch.js';
import { applyExclusions, MAX_EXCLUDED_APPS, MAX_TITLE_PATTERN_CHARS, MAX_TITLE_PATTERNS } from '../../contract/exclusions.js';

/** CPU time (user + system) that `work` takes, in ms: less sensitive to a busy machine than wall time. */
function cpuMs(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const spent = process.cpuUsage(before);
  return (spent.user + spent.system) / 1000;
}

describe('an employee whose exclusions are built to be slow to match', () => {
  // The hole: each call lowercased and split its pattern again, outside the budget, so 100 patterns
  // of 256 characters over 5,000 two-letter titles cost about 1.2 s of CPU per batch (ten times
  // the budget's promise) while spending almost no steps. Patterns are compiled once now, and
  // every call costs a step.
  it('cannot make ingest spend much more than the step budget on one batch of short titles', () => {
    // Arrange
    const patterns = Array.from({ length: MAX_TITLE_PATTERNS }, (_, i) => `${'z'.repeat(MAX_TITLE_PATTERN_CHARS - 3)}${String(i).padStart(3, '0')}`);
    const starry = Array.from({ length: MAX_TITLE_PATTERNS }, (_, i) => `*${'a*'.repeat((MAX_TITLE_PATTERN_CHARS - 4) / 2)}${String(i).padStart(2, '0')}`);
    const events = Array.from({ length: MAX_EVENTS }, (_, i) => ({ kind: 'app-focus', ts: i, app: 'editor', title: 'ab' }));

    // Act
    let excluded = -1;
    const plain = cpuMs(() => {
      excluded = applyExclusions(events, { apps: [], titlePatterns: patterns }).excluded;
    });
    const stars = cpuMs(() => applyExclusions(events, { apps: [], titlePatterns: starry }));

    // Assert: nothing matched, and each batch cost little (budget: about 0.1 s; measured 9 and 14 ms
    // after the fix, 0.6 and 1.9 s before).
    expect(excluded).toBe(0);
    expect(plain).toBeLessThan(250);
    expect(stars).toBeLessThan(250);
  });

  it('cannot make ingest spend much more than the step budget on the longest titles', () => {
    // Arrange: as many of the longest titles as a 1 MiB batch holds.
    const patterns = Array.from({ length: MAX_TITLE_PATTERNS }, (_, i) => `*${'a'.repeat(MAX_TITLE_PATTERN_CHARS - 4)}${String(i).padStart(2, '0')}`);
    const events = Array.from({ length: 900 }, (_, i) => ({ kind: 'app-focus', ts: i, app: 'editor', title: 'a'.repeat(MAX_TITLE_CHARS) }));
    const apps = Array.from({ length: MAX_EXCLUDED_APPS }, (_, i) => `app-${i}`);

    // Act
    let excluded = -1;
    const spent = cpuMs(() => {
      excluded = applyExclusions(events, { apps, titlePatterns: patterns }).excluded;
    });

    // Assert: the budget ran out and what it could not judge was dropped (fail closed), quickly.
    expect(excluded).toBeGreaterThan(0);
    expect(spent).toBeLessThan(600);
  });
});

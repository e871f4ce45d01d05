// The short fast-check report: a failing property over large values must name the seed and path
// to replay it, the error, and a clipped counterexample, not megabytes on one line.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shortReport } from '../support/fast-check-report.js';

describe('shortReport', () => {
  it('fails with the seed, the path, the error and a clipped counterexample', () => {
    // Arrange: a property that fails on any large array of long strings.
    const big = fc.array(fc.string({ minLength: 200, maxLength: 200 }), { minLength: 500, maxLength: 500 });

    // Act
    let message = '';
    try {
      fc.assert(
        fc.property(big, (values) => {
          expect(values.length).toBeLessThan(10);
        }),
        { numRuns: 5, seed: 42, endOnFailure: true, reporter: shortReport },
      );
    } catch (error) {
      message = (error as Error).message;
    }

    // Assert
    expect(message).toMatch(/^property failed after 1 runs; replay with seed 42 and path "0"/);
    expect(message).toContain('error: expected 500 to be less than 10');
    expect(message).toMatch(/counterexample: \[\[.*… \(\d+ chars\)$/s);
    expect(message.length).toBeLessThan(1_500);
  });
});

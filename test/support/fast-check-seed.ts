// The one fast-check seed helper: each property test has a fixed default seed (so CI is
// reproducible) that FC_SEED overrides, to replay a failure or explore new cases.

/** FC_SEED if set, else `fallback`; a non-integer FC_SEED is an error, not a silent default. */
export function fastCheckSeed(fallback: number): number {
  const raw = process.env['FC_SEED'];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`FC_SEED=${JSON.stringify(raw)} must be an integer`);
  return n;
}

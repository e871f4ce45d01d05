// A fast-check reporter that fails with a short message: the seed and path that replay the
// failure, the error, and the start of the counterexample. fast-check's own report prints the
// whole counterexample on one line, which for a 5,000-event batch or a set of policies is
// megabytes of text in which the cause is hard to find.
import fc from 'fast-check';

const ERROR_CHARS = 600;
const EXAMPLE_CHARS = 400;

export function shortReport<Ts>(details: fc.RunDetails<Ts>): void {
  if (!details.failed) return;
  const example = details.counterexample === null ? '(none)' : fc.stringify(details.counterexample);
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text);
  throw new Error(
    [
      `property failed after ${details.numRuns} runs; replay with seed ${details.seed} and path "${details.counterexamplePath ?? ''}" (FC_SEED=${details.seed})`,
      `error: ${clip(error, ERROR_CHARS)}`,
      `counterexample: ${clip(example, EXAMPLE_CHARS)}`,
    ].join('\n'),
  );
}

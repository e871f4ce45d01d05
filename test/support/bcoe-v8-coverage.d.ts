// Types for the one function of @bcoe/v8-coverage (the merger vitest's V8 provider uses) that
// test/support/coverage-provider.ts calls; the package ships none.
declare module '@bcoe/v8-coverage' {
  import type { Profiler } from 'node:inspector';
  export function mergeProcessCovs(covs: readonly { result: Profiler.ScriptCoverage[] }[]): { result: Profiler.ScriptCoverage[] };
}

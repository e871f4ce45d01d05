// Exclusions under the employee's control: apps and window-title patterns whose events must never
// be captured. The body of PUT /v1/consent/exclusions, and the one matcher both the agent (on the
// device, before an event leaves memory) and ingest (again, as defence in depth) apply.
import * as z from './zod.js';

export const MAX_EXCLUDED_APPS = 100;
export const MAX_TITLE_PATTERNS = 100;
/** An app name as events carry it (contract/capture-batch.ts MAX_APP_CHARS). */
export const MAX_EXCLUDED_APP_CHARS = 256;
export const MAX_TITLE_PATTERN_CHARS = 256;
/** Room for full lists with JSON escapes (6 bytes for some characters). */
export const MAX_EXCLUSIONS_BODY_BYTES = 256 * 1024;

/**
 * The lists together, as UTF-8 JSON. They ride on every ledger event after the change (the state
 * is copied whole), on every read of the consent (each agent poll, each ingest batch) and on each
 * event of the history. The per-list limits alone allowed 150 KB (200 entries of 256 three-byte
 * characters), so that toggling a long list 40 times took the history past Lambda's 6 MB answer.
 */
export const MAX_EXCLUSIONS_BYTES = 32 * 1024;

const printable = /^[^\u0000-\u001f\u007f]+$/;

export const exclusionsBody = z.strictObject({
  /** App names, matched whole and case-insensitively against an event's `app`. */
  apps: z.array(z.string().check(z.minLength(1), z.maxLength(MAX_EXCLUDED_APP_CHARS), z.regex(printable, 'no control characters'))).check(z.maxLength(MAX_EXCLUDED_APPS)),
  /** Globs over a whole window title, case-insensitive: `*` is any run of characters, `?` one character. */
  titlePatterns: z.array(z.string().check(z.minLength(1), z.maxLength(MAX_TITLE_PATTERN_CHARS), z.regex(printable, 'no control characters'))).check(z.maxLength(MAX_TITLE_PATTERNS)),
}).check(
  z.refine((e) => new TextEncoder().encode(JSON.stringify(e)).length <= MAX_EXCLUSIONS_BYTES, `the lists together must be at most ${MAX_EXCLUSIONS_BYTES} bytes of UTF-8 JSON`),
);

export type Exclusions = z.output<typeof exclusionsBody>;

export const NO_EXCLUSIONS: Exclusions = { apps: [], titlePatterns: [] };

/**
 * How much matching one batch may cost ingest (steps of {@link globMatches}): about 0.1 s. Past it,
 * every further app-focus with a title is judged excluded, so a batch built to be slow to match is
 * dropped rather than stored unjudged (fail closed).
 */
export const MAX_MATCH_STEPS_PER_BATCH = 20_000_000;

/** A pattern ready to match: lowercased code points, runs of `*` collapsed to one (they mean the same). */
export type CompiledGlob = readonly string[];

export function compileGlob(pattern: string): CompiledGlob {
  return [...pattern.toLowerCase()].filter((c, i, all) => c !== '*' || all[i - 1] !== '*');
}

/**
 * Whether a glob matches the whole text, case-insensitively; `undefined` once `budget.steps` (shared
 * across calls, and spent by this one) runs out. Iterative with one backtrack point, O(pattern × text) at worst and never
 * exponential: patterns come from people, titles from any window, so no regular expression is
 * built from either.
 */
export function globMatches(pattern: string, text: string, budget: { steps: number } = { steps: Infinity }): boolean | undefined {
  return compiledGlobMatches(compileGlob(pattern), [...text.toLowerCase()], budget);
}

/**
 * globMatches on a compiled pattern and a lowercased, split text. Every call costs at least one step
 * and every loop turn one more, so the budget bounds all the work, whatever the lengths: compiling
 * a pattern per title (its length uncounted) once let 100 long patterns over 5,000 short titles
 * cost ten times the budget's 0.1 s.
 */
function compiledGlobMatches(p: CompiledGlob, t: readonly string[], budget: { steps: number }): boolean | undefined {
  budget.steps -= 1;
  if (budget.steps < 0) return undefined;
  let pi = 0;
  let ti = 0;
  let starP = -1;
  let starT = 0;
  while (ti < t.length) {
    budget.steps -= 1;
    if (budget.steps < 0) return undefined;
    const c = p[pi];
    if (c === '*') {
      starP = pi;
      starT = ti;
      pi += 1;
    } else if (c !== undefined && (c === '?' || c === t[ti])) {
      pi += 1;
      ti += 1;
    } else if (starP !== -1) {
      pi = starP + 1;
      starT += 1;
      ti = starT;
    } else {
      return false;
    }
  }
  // Stars are collapsed, so at most one is left to skip.
  if (p[pi] === '*') pi += 1;
  return pi === p.length;
}

/** The fields of a capture event the exclusions look at. */
export interface ExcludableEvent {
  readonly kind: string;
  readonly app?: string | undefined;
  readonly title?: string | undefined;
}

/**
 * Follows a stream of events in time order and says which are excluded: an event from an excluded
 * app; an app-focus whose title matches a pattern; and every keystroke or click after such a focus
 * until the next app-focus, because keystrokes and clicks carry no title of their own.
 */
export class ExclusionTracker {
  private readonly apps: ReadonlySet<string>;
  private readonly patterns: readonly CompiledGlob[];
  private focusExcluded = false;
  private readonly budget: { steps: number };

  /** `maxSteps` bounds the matching work over the tracker's life (ingest: one batch). @default - unbounded */
  constructor(exclusions: Exclusions, maxSteps = Infinity) {
    this.apps = new Set(exclusions.apps.map((app) => app.toLowerCase()));
    this.patterns = exclusions.titlePatterns.map(compileGlob);
    this.budget = { steps: maxSteps };
  }

  get empty(): boolean {
    return this.apps.size === 0 && this.patterns.length === 0;
  }

  /** Whether this event is excluded; an app-focus also sets what follows it. */
  excludes(event: ExcludableEvent): boolean {
    const appExcluded = event.app !== undefined && this.apps.has(event.app.toLowerCase());
    if (event.kind === 'app-focus') {
      const title = event.title;
      // Over budget (undefined) counts as a match: a title too costly to judge is not captured.
      const text = title === undefined || this.patterns.length === 0 ? [] : [...title.toLowerCase()];
      this.focusExcluded = appExcluded || (title !== undefined && this.patterns.some((pattern) => compiledGlobMatches(pattern, text, this.budget) !== false));
      return this.focusExcluded;
    }
    return appExcluded || this.focusExcluded;
  }
}

/** The events that survive the exclusions, judged in `ts` order, and how many were dropped. */
export function applyExclusions<E extends ExcludableEvent & { readonly ts: number }>(
  events: readonly E[],
  exclusions: Exclusions,
  maxSteps = MAX_MATCH_STEPS_PER_BATCH,
): { kept: E[]; excluded: number } {
  const tracker = new ExclusionTracker(exclusions, maxSteps);
  if (tracker.empty) return { kept: [...events], excluded: 0 };
  const dropped = new Set<E>();
  const ordered = events.map((event, index) => ({ event, index })).sort((a, b) => a.event.ts - b.event.ts || a.index - b.index);
  for (const { event } of ordered) if (tracker.excludes(event)) dropped.add(event);
  return { kept: events.filter((event) => !dropped.has(event)), excluded: dropped.size };
}

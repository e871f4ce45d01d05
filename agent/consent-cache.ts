// The agent's view of the employee's consent, and the rule that capture fails closed: nothing is
// captured without an answer from GET /v1/consent younger than `maxAgeMs`; a known pause stops
// capture at once and lets it start again at `pausedUntil`; at flush, buffered events are kept
// only if their time falls in a consent window of their scope, as the server judges them.
import type { z } from 'zod';
import type { consentStateResponse } from '../contract/responses.js';
import { SCOPE_OF_EVENT_KIND, type Scope } from '../contract/vocabulary.js';
import { NO_EXCLUSIONS, type Exclusions } from '../contract/exclusions.js';

export type ConsentAnswer = z.output<typeof consentStateResponse>;

/** Poll at least this often; the SDK's default and the documented contract for agents. */
export const POLL_INTERVAL_MS = 60_000;
/** An answer older than this is no answer: capture stops until the next one arrives. */
export const DEFAULT_MAX_AGE_MS = 90_000;

export type CaptureState = 'unknown' | 'stale' | 'active' | 'paused' | 'not-consented';

export class ConsentCache {
  private answer: ConsentAnswer | undefined;
  private receivedAt = -Infinity;
  private etagValue: string | undefined;

  constructor(
    private readonly maxAgeMs = DEFAULT_MAX_AGE_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  get etag(): string | undefined {
    return this.etagValue;
  }

  get current(): ConsentAnswer | undefined {
    return this.answer;
  }

  /** A 200 with its ETag. */
  update(answer: ConsentAnswer, etag: string | undefined): void {
    this.answer = answer;
    this.etagValue = etag;
    this.receivedAt = this.clock();
  }

  /** A 304: the cached answer is still the truth, as of now. */
  confirm(): void {
    if (this.answer !== undefined) this.receivedAt = this.clock();
  }

  /** Forget everything (a 403 capture-not-permitted says the cache was wrong). */
  invalidate(): void {
    this.receivedAt = -Infinity;
    this.etagValue = undefined;
  }

  get fresh(): boolean {
    return this.answer !== undefined && this.clock() - this.receivedAt <= this.maxAgeMs;
  }

  /** What the agent may do now, by the cached answer and the local clock. */
  state(now = this.clock()): CaptureState {
    const a = this.answer;
    if (a === undefined) return 'unknown';
    if (!this.fresh) return 'stale';
    if (a.status === 'paused') return a.pausedUntil !== undefined && Date.parse(a.pausedUntil) <= now ? 'active' : 'paused';
    return a.status === 'active' ? 'active' : 'not-consented';
  }

  /** Whether an event of `kind` may be captured now: a fresh answer, consent active, the scope consented. */
  mayCapture(kind: keyof typeof SCOPE_OF_EVENT_KIND, now = this.clock()): boolean {
    return this.state(now) === 'active' && (this.answer?.scopes ?? []).includes(SCOPE_OF_EVENT_KIND[kind]);
  }

  /** Whether an event at `ts` falls in a consent window of its scope, by the cached history. */
  insideWindow(kind: keyof typeof SCOPE_OF_EVENT_KIND, ts: number): boolean {
    const windows = this.answer?.windows?.[SCOPE_OF_EVENT_KIND[kind] as Scope] ?? [];
    return windows.some((w) => ts >= Date.parse(w.from) && (w.to === undefined || ts < Date.parse(w.to)));
  }

  get exclusions(): Exclusions {
    return this.answer?.exclusions ?? NO_EXCLUSIONS;
  }
}

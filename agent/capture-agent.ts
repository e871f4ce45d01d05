// The capture SDK's core: captures only what a fresh consent answer allows, keeps excluded apps and
// titles on the device, buffers in memory, writes batches to the durable queue at each flush
// (after re-checking consent windows), and sends them with gzip, retries and the contract's rules:
// 202 or duplicate clears a batch; 403 capture-not-permitted deletes it and refreshes consent;
// 409 batch-in-progress, 429, 5xx and network faults retry with jittered backoff that honours
// Retry-After; 409 batch-id-reused (and any 400) is set aside and reported, never lost silently.
import { gunzipSync, gzipSync } from 'node:zlib';
import { MAX_BODY_BYTES, MAX_EVENTS } from '../contract/capture-batch.js';
import { applyExclusions, ExclusionTracker } from '../contract/exclusions.js';
import { consentStateResponse } from '../contract/responses.js';
import { ConsentCache, DEFAULT_MAX_AGE_MS, POLL_INTERVAL_MS, type CaptureState } from './consent-cache.js';
import { DiskQueue, type QueuedBatch } from './disk-queue.js';
import type { TokenProvider } from './token-provider.js';
import { uuidv7 } from './uuid7.js';

export type CaptureEvent =
  | { readonly kind: 'keystroke'; readonly ts: number; readonly text: string; readonly app?: string; readonly secureField?: boolean }
  | { readonly kind: 'click'; readonly ts: number; readonly x: number; readonly y: number; readonly button: 'left' | 'right' | 'middle' | 'other'; readonly app?: string }
  | { readonly kind: 'app-focus'; readonly ts: number; readonly app: string; readonly title?: string };

export interface AgentStatus {
  /** Events accepted into the buffer. */
  readonly captured: number;
  /** Events the server stored. */
  readonly sent: number;
  /** Events refused: not sent because outside consent at flush, or refused by the server. */
  readonly refused: number;
  /** Events kept on the device by the exclusions (never sent). */
  readonly excluded: number;
  /** Batches in the durable queue, and events still in memory. */
  readonly queued: number;
  readonly buffered: number;
  /** Batches dropped because the queue was full or unreadable on disk, plus events dropped because memory was full. */
  readonly dropped: number;
  /** Batches set aside for a person (batch-id-reused, a 400). */
  readonly rejected: number;
  readonly consent: CaptureState;
  /** When sending resumes after a failure (epoch ms), if backing off. */
  readonly retryAt?: number;
}

export interface AgentReport {
  readonly kind: 'batch-id-reused' | 'batch-invalid' | 'forbidden' | 'poll-failed' | 'send-failed';
  readonly batchId?: string;
  readonly status?: number;
  readonly message: string;
}

export interface CaptureAgentOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly api: string;
  /** A pseudonymous id of this device (`^[A-Za-z0-9_-]{1,64}$`). */
  readonly deviceId: string;
  readonly tokens: TokenProvider;
  readonly queue: DiskQueue;
  /** @default 60_000 (the contract's maximum) */
  readonly pollIntervalMs?: number;
  /** An answer older than this stops capture. @default 90_000 */
  readonly maxConsentAgeMs?: number;
  /** @default 10_000 */
  readonly flushIntervalMs?: number;
  /** Events per batch. @default 1000 */
  readonly maxBatchEvents?: number;
  /** Events held in memory between flushes; past it new events are dropped and counted. @default 50_000 */
  readonly maxBufferedEvents?: number;
  /** Backoff: first delay and cap. @default 1_000 and 60_000 */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Called once a batch is durably queued (after its file is renamed into place). */
  readonly onQueued?: (batchId: string, events: number) => void;
  /** Bug reports and faults worth a person's attention. */
  readonly onReport?: (report: AgentReport) => void;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly clock?: () => number;
  /** @default Math.random */
  readonly random?: () => number;
}

/** What a send of one batch came to. */
type SendOutcome = { kind: 'done' } | { kind: 'retry'; afterMs?: number } | { kind: 'stop' };

const BATCH_BYTES = Math.floor(MAX_BODY_BYTES * 0.9);

export class CaptureAgent {
  readonly consent: ConsentCache;
  private buffer: CaptureEvent[] = [];
  private readonly tracker = { value: new ExclusionTracker({ apps: [], titlePatterns: [] }), source: '' };
  private counters = { captured: 0, sent: 0, refused: 0, excluded: 0, rejected: 0 };
  private droppedInMemory = 0;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private retryAt = 0;
  private timers: NodeJS.Timeout[] = [];
  private sending: Promise<void> | undefined;
  private readonly clock: () => number;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: CaptureAgentOptions) {
    this.clock = options.clock ?? Date.now;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.consent = new ConsentCache(options.maxConsentAgeMs ?? DEFAULT_MAX_AGE_MS, this.clock);
  }

  get status(): AgentStatus {
    const queue = this.options.queue.stats;
    return {
      ...this.counters,
      queued: queue.batches,
      buffered: this.buffer.length,
      dropped: queue.droppedFull + queue.unreadable + this.droppedInMemory,
      consent: this.consent.state(),
      ...(this.retryAt > this.clock() ? { retryAt: this.retryAt } : {}),
    };
  }

  /**
   * Offers one event. It is kept only if the consent answer is fresh and allows its scope now, and
   * the exclusions do not cover it; otherwise it is forgotten at once. Returns whether it was kept.
   */
  capture(event: CaptureEvent): boolean {
    // Every app-focus goes through the tracker, captured or not: it decides what follows it.
    if (this.exclusions().excludes(event)) {
      this.counters.excluded += 1;
      return false;
    }
    if (!this.consent.mayCapture(event.kind, event.ts)) return false;
    // Capture faster than flushes (no disk, a stuck poll) must not grow memory without bound.
    if (this.buffer.length >= (this.options.maxBufferedEvents ?? 50_000)) {
      this.droppedInMemory += 1;
      return false;
    }
    this.buffer.push(event);
    this.counters.captured += 1;
    if (this.buffer.length >= (this.options.maxBatchEvents ?? 1000)) void this.flush().catch(() => undefined);
    return true;
  }

  /** GET /v1/consent with If-None-Match. A failure leaves the cache to go stale (and capture to stop). */
  async poll(): Promise<void> {
    try {
      const sent = this.consent.etag;
      const response = await this.request('GET', '/v1/consent', undefined, sent === undefined ? {} : { 'if-none-match': sent });
      if (response.status === 304) {
        // A 304 confirms only the answer it was asked about: one to no If-None-Match (after a 403
        // invalidated the cache), or naming another ETag, is no answer (a cache in the way), and
        // confirming would make a known-wrong answer fresh again.
        const tag = response.headers.get('etag');
        if (sent !== undefined && (tag === null || tag === sent)) this.consent.confirm();
        else this.report({ kind: 'poll-failed', status: 304, message: 'GET /v1/consent answered 304 to a question it was not asked' });
        return;
      }
      if (response.status !== 200) {
        if (response.status === 401) this.options.tokens.invalidate();
        this.report({ kind: 'poll-failed', status: response.status, message: `GET /v1/consent answered ${response.status}` });
        return;
      }
      const parsed = consentStateResponse.safeParse(await response.json());
      // An answer this SDK cannot read is no answer: fail closed.
      if (!parsed.success) {
        this.report({ kind: 'poll-failed', status: 200, message: 'GET /v1/consent answered a body this agent cannot read' });
        return;
      }
      this.consent.update(parsed.data, response.headers.get('etag') ?? undefined);
    } catch (error) {
      this.report({ kind: 'poll-failed', message: `GET /v1/consent failed: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  /**
   * Moves the buffer to the durable queue: consent is polled first, then events outside a consent
   * window of their scope (by the fresh answer) or covered by the current exclusions are dropped.
   * Without a fresh answer nothing is queued and the buffer waits.
   */
  flush(): Promise<void> {
    // One at a time: flushes asked for meanwhile are served by the one running.
    this.flushing ??= this.flushBuffer().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushBuffer(): Promise<void> {
    await this.poll();
    if (!this.consent.fresh || this.buffer.length === 0) return;
    const taken = this.buffer;
    this.buffer = [];
    const inside = taken.filter((event) => this.consent.insideWindow(event.kind, event.ts));
    this.counters.refused += taken.length - inside.length;
    const { kept, excluded } = applyExclusions(inside, this.consent.exclusions);
    this.counters.excluded += excluded;
    for (const events of this.split(kept)) {
      const body = { batchId: uuidv7(this.clock()), deviceId: this.options.deviceId, events };
      this.options.queue.push(body.batchId, gzipSync(JSON.stringify(body)));
      this.options.onQueued?.(body.batchId, events.length);
    }
  }

  /** Sends queued batches, oldest first, until the queue is empty or a failure says to wait. */
  send(): Promise<void> {
    this.sending ??= this.sendQueued().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  /** Polls, flushes and sends on timers until stop(). */
  start(): void {
    void this.poll();
    const pollEvery = Math.min(this.options.pollIntervalMs ?? POLL_INTERVAL_MS, POLL_INTERVAL_MS);
    this.timers.push(setInterval(() => void this.poll(), pollEvery));
    this.timers.push(
      setInterval(() => {
        void this.flush()
          .then(() => this.send())
          .catch((error: unknown) => this.report({ kind: 'send-failed', message: error instanceof Error ? error.message : String(error) }));
      }, this.options.flushIntervalMs ?? 10_000),
    );
  }

  /** Stops the timers, waits for a send in progress, and queues what is buffered (if consent allows). */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.sending;
    // A flush already running may have taken the buffer before the last events came in.
    await this.flushing;
    await this.flush();
  }

  private exclusions(): ExclusionTracker {
    const current = this.consent.exclusions;
    const source = JSON.stringify(current);
    if (source !== this.tracker.source) {
      this.tracker.value = new ExclusionTracker(current);
      this.tracker.source = source;
    }
    return this.tracker.value;
  }

  private split(events: readonly CaptureEvent[]): CaptureEvent[][] {
    const max = Math.min(this.options.maxBatchEvents ?? 1000, MAX_EVENTS);
    const batches: CaptureEvent[][] = [];
    let current: CaptureEvent[] = [];
    let bytes = 0;
    for (const event of events) {
      const size = Buffer.byteLength(JSON.stringify(event)) + 1;
      if (current.length > 0 && (current.length >= max || bytes + size > BATCH_BYTES)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(event);
      bytes += size;
    }
    if (current.length > 0) batches.push(current);
    return batches;
  }

  private async sendQueued(): Promise<void> {
    const { queue } = this.options;
    for (;;) {
      const pending = queue.list();
      if (pending.length === 0) return;
      for (const next of pending) {
        if (this.clock() < this.retryAt) return;
        const outcome = await this.sendOne(next);
        if (outcome.kind === 'done') {
          this.failures = 0;
          continue;
        }
        if (outcome.kind === 'stop') return;
        this.failures += 1;
        this.retryAt = this.clock() + this.backoff(outcome.afterMs);
        return;
      }
    }
  }

  /** Full jitter on an exponential cap, and never sooner than the server's Retry-After. */
  private backoff(retryAfterMs: number | undefined): number {
    const base = this.options.backoffBaseMs ?? 1_000;
    const cap = Math.min(this.options.backoffMaxMs ?? 60_000, base * 2 ** Math.min(this.failures, 16));
    const jittered = (this.options.random ?? Math.random)() * cap;
    return Math.max(retryAfterMs ?? 0, jittered);
  }

  private async sendOne(batch: QueuedBatch): Promise<SendOutcome> {
    const { queue } = this.options;
    const body = queue.read(batch);
    if (body === undefined) return { kind: 'done' }; // unreadable: set aside and counted by the queue
    if (!queue.attempted(batch)) {
      // Never sent yet, so its body may still change: drop what a pause or withdrawal made while
      // it waited (offline, say) now covers. Without a fresh answer it waits rather than send blind.
      if (!this.consent.fresh) return { kind: 'retry' };
      if (this.refilter(batch, body)) return { kind: 'done' };
      queue.markAttempted(batch);
    }
    let response: Response;
    try {
      response = await this.request('POST', '/v1/events', body, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
    } catch (error) {
      this.report({ kind: 'send-failed', batchId: batch.batchId, message: error instanceof Error ? error.message : String(error) });
      return { kind: 'retry' };
    }
    const retryAfter = retryAfterMs(response.headers.get('retry-after'));
    const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    const error = typeof answer['error'] === 'string' ? answer['error'] : '';
    if (response.status === 202 || (response.status === 200 && answer['duplicate'] === true)) {
      if (response.status === 202) this.account(answer);
      queue.remove(batch);
      return { kind: 'done' };
    }
    if (response.status === 403 && error === 'capture-not-permitted') {
      // Nothing of it may be stored now; retrying would only be refused again. Ask for consent afresh.
      this.counters.refused += eventsIn(body);
      queue.remove(batch);
      this.consent.invalidate();
      await this.poll();
      return { kind: 'done' };
    }
    if (response.status === 409 && error === 'batch-id-reused') {
      queue.setAside(batch);
      this.counters.rejected += 1;
      this.report({ kind: 'batch-id-reused', batchId: batch.batchId, status: 409, message: 'the server holds another batch under this id; set aside for a bug report' });
      return { kind: 'done' };
    }
    if (response.status === 400 || response.status === 413 || response.status === 415) {
      queue.setAside(batch);
      this.counters.rejected += 1;
      this.report({ kind: 'batch-invalid', batchId: batch.batchId, status: response.status, message: `the server refused the batch as invalid (${error || response.status})` });
      return { kind: 'done' };
    }
    if (response.status === 401) {
      this.options.tokens.invalidate();
      return { kind: 'retry', ...(retryAfter === undefined ? {} : { afterMs: retryAfter }) };
    }
    if (response.status === 403) {
      this.report({ kind: 'forbidden', batchId: batch.batchId, status: 403, message: 'the token may not send events (it needs capture:write)' });
      return { kind: 'retry' };
    }
    // 409 batch-in-progress, 429, 5xx: the same batch again later.
    return { kind: 'retry', ...(retryAfter === undefined ? {} : { afterMs: retryAfter }) };
  }

  /**
   * Re-judges a never-sent batch by the fresh consent windows and exclusions. When something must
   * go, the rest is queued under a derived id (`<id>-r`), then the original removed; after a crash
   * in between, the derived batch is found and the original just removed. Returns whether the
   * original was replaced (or emptied).
   */
  private refilter(batch: QueuedBatch, gzipped: Buffer): boolean {
    const { queue } = this.options;
    const parsed = JSON.parse(gunzipSync(gzipped).toString('utf8')) as { batchId: string; deviceId: string; events: CaptureEvent[] };
    const derivedId = `${batch.batchId.slice(0, 60)}-r`;
    if (queue.list().some((b) => b.batchId === derivedId)) {
      queue.remove(batch);
      return true;
    }
    const inside = parsed.events.filter((event) => this.consent.insideWindow(event.kind, event.ts));
    const { kept, excluded } = applyExclusions(inside, this.consent.exclusions);
    if (kept.length === parsed.events.length) return false;
    this.counters.refused += parsed.events.length - inside.length;
    this.counters.excluded += excluded;
    if (kept.length > 0) queue.push(derivedId, gzipSync(JSON.stringify({ ...parsed, batchId: derivedId, events: kept })));
    queue.remove(batch);
    return true;
  }

  private account(answer: Record<string, unknown>): void {
    const stored = (answer['stored'] ?? {}) as Record<string, number>;
    this.counters.sent += Object.values(stored).reduce((sum, n) => sum + (typeof n === 'number' ? n : 0), 0);
    for (const reason of Object.values((answer['refused'] ?? {}) as Record<string, unknown>)) {
      if (typeof reason === 'object' && reason !== null && typeof (reason as { outsideConsent?: unknown }).outsideConsent === 'number') {
        this.counters.refused += (reason as { outsideConsent: number }).outsideConsent;
      }
    }
    if (typeof answer['excluded'] === 'number') this.counters.excluded += answer['excluded'];
  }

  private async request(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Response> {
    const token = await this.options.tokens.token();
    return this.fetch(`${this.options.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...headers },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(30_000),
    });
  }

  private report(report: AgentReport): void {
    this.options.onReport?.(report);
  }
}

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 3600) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function eventsIn(gzipped: Buffer): number {
  try {
    return (JSON.parse(gunzipSync(gzipped).toString('utf8')) as { events: unknown[] }).events.length;
  } catch {
    return 0;
  }
}

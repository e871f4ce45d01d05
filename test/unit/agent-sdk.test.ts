// The capture SDK without a server: the consent cache fails closed (no answer, a stale answer, a
// pause until its end), the disk queue is bounded, encrypted and survives torn writes and restarts,
// and the sender follows the contract's answers (Retry-After, 403, both 409s) with a fake API.
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureAgent, type AgentReport } from '../../agent/capture-agent.js';
import { ConsentCache, type ConsentAnswer } from '../../agent/consent-cache.js';
import { DiskQueue } from '../../agent/disk-queue.js';
import { FunctionTokenProvider } from '../../agent/token-provider.js';
import { uuidv7 } from '../../agent/uuid7.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cc-sdk-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.parse('2026-11-30T12:00:00Z');
const active = (extra: Partial<ConsentAnswer> = {}): ConsentAnswer => ({
  employeeId: 'e-1',
  status: 'active',
  scopes: ['keystrokes'],
  sequence: 1,
  windows: { keystrokes: [{ from: new Date(T0 - 3_600_000).toISOString() }] },
  ...extra,
});

describe('ConsentCache', () => {
  it('allows nothing without an answer, and nothing once the answer is older than its maximum age', () => {
    let now = T0;
    const cache = new ConsentCache(90_000, () => now);
    expect(cache.mayCapture('keystroke')).toBe(false);
    cache.update(active(), '"a"');
    expect(cache.mayCapture('keystroke')).toBe(true);
    expect(cache.mayCapture('click')).toBe(false);
    now += 90_001;
    expect(cache.state()).toBe('stale');
    expect(cache.mayCapture('keystroke')).toBe(false);
    cache.confirm();
    expect(cache.mayCapture('keystroke')).toBe(true);
  });

  it('stops at once for a known pause and starts again by itself at pausedUntil, with no new answer', () => {
    let now = T0;
    const cache = new ConsentCache(90_000, () => now);
    cache.update(active({ status: 'paused', pausedUntil: new Date(T0 + 60_000).toISOString() }), undefined);
    expect(cache.mayCapture('keystroke')).toBe(false);
    now = T0 + 59_999;
    expect(cache.mayCapture('keystroke')).toBe(false);
    now = T0 + 60_000;
    expect(cache.mayCapture('keystroke')).toBe(true);
  });

  it('judges an event time by the windows of its scope', () => {
    const cache = new ConsentCache();
    cache.update(active({ windows: { keystrokes: [{ from: new Date(T0).toISOString(), to: new Date(T0 + 1000).toISOString() }] } }), undefined);
    expect([T0 - 1, T0, T0 + 999, T0 + 1000].map((ts) => cache.insideWindow('keystroke', ts))).toEqual([false, true, true, false]);
    expect(cache.insideWindow('click', T0)).toBe(false);
  });
});

describe('DiskQueue', () => {
  const key = Buffer.alloc(32, 1);

  it('keeps batches encrypted, in order, across a restart', () => {
    const dir = tempDir();
    const first = new DiskQueue(dir, key);
    first.push('b-1', Buffer.from('PLAINTEXT-ONE'));
    first.push('b-2', Buffer.from('PLAINTEXT-TWO'));
    const reopened = new DiskQueue(dir, key);
    reopened.push('b-3', Buffer.from('three'));
    expect(reopened.list().map((b) => b.batchId)).toEqual(['b-1', 'b-2', 'b-3']);
    expect(reopened.read(reopened.list()[1]!)?.toString()).toBe('PLAINTEXT-TWO');
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.batch'))) expect(readFileSync(join(dir, name)).includes('PLAINTEXT')).toBe(false);
  });

  it('drops the oldest batches when full, and counts them', () => {
    const queue = new DiskQueue(tempDir(), key, 400);
    for (let i = 1; i <= 5; i += 1) queue.push(`b-${i}`, Buffer.alloc(100, i));
    expect(queue.list().map((b) => b.batchId)).toEqual(['b-3', 'b-4', 'b-5']);
    expect(queue.stats).toMatchObject({ droppedFull: 2, batches: 3 });
  });

  it('sets aside and counts a torn or tampered file, keeps the others, and clears interrupted writes', () => {
    const dir = tempDir();
    const queue = new DiskQueue(dir, key);
    queue.push('b-1', Buffer.from('one'));
    const torn = queue.push('b-2', Buffer.from('two'));
    queue.push('b-3', Buffer.from('three'));
    truncateSync(join(dir, torn.name), 20);
    writeFileSync(join(dir, '0000000000000004-b-4.batch.123.abcd.tmp'), 'half');
    const reopened = new DiskQueue(dir, key);
    expect(readdirSync(dir).some((n) => n.endsWith('.tmp'))).toBe(false);
    const bodies = reopened.list().map((b) => reopened.read(b)?.toString());
    expect(bodies).toEqual(['one', undefined, 'three']);
    expect(reopened.list().map((b) => b.batchId)).toEqual(['b-1', 'b-3']);
    expect(reopened.stats.unreadable).toBe(1);
    expect(new DiskQueue(dir, Buffer.alloc(32, 2)).read(reopened.list()[0]!)).toBeUndefined();
  });
});

describe('uuidv7', () => {
  it('is a version 7 RFC 9562 id that sorts by time and fits the id pattern', () => {
    const a = uuidv7(T0);
    const b = uuidv7(T0 + 1);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
    expect(parseInt(a.replace(/-/g, '').slice(0, 12), 16)).toBe(T0);
  });
});

describe('CaptureAgent sending', () => {
  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

  function harness(answers: Answer[]) {
    let now = T0;
    const posted: { batchId: string; bytes: Buffer }[] = [];
    const reports: AgentReport[] = [];
    const polls: (string | null)[] = [];
    const dir = tempDir();
    const queue = new DiskQueue(dir, Buffer.alloc(32, 3));
    const agent = new CaptureAgent({
      api: 'http://api.invalid',
      deviceId: 'd-1',
      tokens: new FunctionTokenProvider(async () => 'token'),
      queue,
      clock: () => now,
      random: () => 0.5,
      onReport: (r) => reports.push(r),
      fetch: async (input, init) => {
        const headers = new Headers(init?.headers);
        if (String(input).endsWith('/v1/consent')) {
          polls.push(headers.get('if-none-match'));
          if (headers.get('if-none-match') === '"v1"') return new Response(null, { status: 304 });
          return Response.json(active({ windows: { keystrokes: [{ from: new Date(T0 - 1000).toISOString() }] } }), { headers: { etag: '"v1"' } });
        }
        const bytes = init?.body as Buffer;
        posted.push({ batchId: (JSON.parse(gunzipSync(bytes).toString()) as { batchId: string }).batchId, bytes });
        const answer = answers.shift() ?? { status: 202, body: { batchId: 'x', stored: { keystrokes: 1 }, refused: {}, redacted: 0 } };
        return Response.json(answer.body ?? {}, { status: answer.status, headers: answer.headers ?? {} });
      },
    });
    return { agent, queue, posted, reports, polls, dir, advance: (ms: number) => (now += ms) };
  }

  async function oneQueuedBatch(h: ReturnType<typeof harness>): Promise<void> {
    await h.agent.poll();
    h.agent.capture({ kind: 'keystroke', ts: T0, text: 'hello' });
    await h.agent.flush();
    expect(h.queue.list()).toHaveLength(1);
  }

  it('polls with If-None-Match and treats a 304 as a fresh answer', async () => {
    const h = harness([]);
    await h.agent.poll();
    h.advance(80_000);
    await h.agent.poll();
    h.advance(80_000);
    expect(h.polls).toEqual([null, '"v1"']);
    expect(h.agent.consent.fresh).toBe(true);
  });

  it('waits at least Retry-After after a 503, then resends the same bytes under the same batchId', async () => {
    const h = harness([{ status: 503, body: { error: 'unavailable', message: 'x', retryable: true }, headers: { 'retry-after': '7' } }]);
    await oneQueuedBatch(h);
    await h.agent.send();
    expect(h.agent.status.retryAt).toBeGreaterThanOrEqual(T0 + 7_000);
    h.advance(6_999);
    await h.agent.send();
    expect(h.posted).toHaveLength(1);
    h.advance(1);
    await h.agent.send();
    expect(h.posted).toHaveLength(2);
    expect(h.posted[1]?.batchId).toBe(h.posted[0]?.batchId);
    expect(h.posted[1]?.bytes.equals(h.posted[0]?.bytes ?? Buffer.alloc(0))).toBe(true);
    expect(h.queue.list()).toEqual([]);
  });

  it('retries a 409 batch-in-progress and clears the batch on a later duplicate answer', async () => {
    const h = harness([
      { status: 409, body: { error: 'batch-in-progress', message: 'x', retryable: true }, headers: { 'retry-after': '2' } },
      { status: 200, body: { batchId: 'x', duplicate: true } },
    ]);
    await oneQueuedBatch(h);
    await h.agent.send();
    expect(h.queue.list()).toHaveLength(1);
    h.advance(2_000);
    await h.agent.send();
    expect(h.posted).toHaveLength(2);
    expect(h.queue.list()).toEqual([]);
  });

  it('deletes the batch on 403 capture-not-permitted, never retries it, and asks for consent afresh', async () => {
    const h = harness([{ status: 403, body: { error: 'capture-not-permitted', message: 'x', batchId: 'x', refused: { keystrokes: 'paused' } } }]);
    await oneQueuedBatch(h);
    const pollsBefore = h.polls.length;
    await h.agent.send();
    expect(h.queue.list()).toEqual([]);
    expect(h.posted).toHaveLength(1);
    expect(h.polls.length).toBe(pollsBefore + 1);
    expect(h.polls.at(-1)).toBeNull();
    expect(h.agent.status.refused).toBe(1);
  });

  it('sets a 409 batch-id-reused batch aside and reports it: never lost, never resent', async () => {
    const h = harness([{ status: 409, body: { error: 'batch-id-reused', message: 'x' } }]);
    await oneQueuedBatch(h);
    await h.agent.send();
    await h.agent.send();
    expect(h.posted).toHaveLength(1);
    expect(h.queue.list()).toEqual([]);
    expect(readdirSync(join(h.dir, 'rejected'))).toHaveLength(1);
    expect(h.reports.map((r) => r.kind)).toEqual(['batch-id-reused']);
    expect(h.agent.status.rejected).toBe(1);
  });
});

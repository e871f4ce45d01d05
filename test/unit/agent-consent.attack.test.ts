// Attacks on the agent's fail-closed consent cache (agent/capture-agent.ts poll) by something between
// the agent and the API that answers 304 when it should not (a misbehaving cache or proxy): a 304
// confirms only the answer the agent asked about, so a known-wrong or stale answer never turns fresh.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureAgent, type AgentReport } from '../../agent/capture-agent.js';
import type { ConsentAnswer } from '../../agent/consent-cache.js';
import { DiskQueue } from '../../agent/disk-queue.js';
import { FunctionTokenProvider } from '../../agent/token-provider.js';

const T0 = Date.parse('2026-11-30T12:00:00Z');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const active: ConsentAnswer = { employeeId: 'e-1', status: 'active', scopes: ['keystrokes'], sequence: 1, windows: { keystrokes: [{ from: new Date(T0 - 60_000).toISOString() }] } };

/** An API whose first consent answer is a 200 (ETag "v1"), and every later one the 304 `later` says. */
function agentBehind(later: (ifNoneMatch: string | null) => Response) {
  let now = T0;
  let polls = 0;
  const reports: AgentReport[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'cc-agent-304-'));
  dirs.push(dir);
  const agent = new CaptureAgent({
    api: 'http://api.invalid',
    deviceId: 'd-1',
    tokens: new FunctionTokenProvider(async () => 'token'),
    queue: new DiskQueue(dir, Buffer.alloc(32, 3)),
    clock: () => now,
    random: () => 0.5,
    onReport: (r) => reports.push(r),
    fetch: async (_input, init) => {
      polls += 1;
      return polls === 1 ? Response.json(active, { headers: { etag: '"v1"' } }) : later(new Headers(init?.headers).get('if-none-match'));
    },
  });
  return { agent, reports, advance: (ms: number) => (now += ms) };
}

describe('a cache between the agent and the API', () => {
  // The hole: poll() took any 304 as "unchanged", so after a 403 capture-not-permitted had
  // invalidated the cache (the answer was wrong), a 304 to a request without If-None-Match made
  // that wrong answer fresh again, and capture resumed on it.
  it('cannot revive an invalidated answer with a 304 to a request that asked nothing', async () => {
    // Arrange
    const h = agentBehind(() => new Response(null, { status: 304, headers: { etag: '"v1"' } }));
    await h.agent.poll();
    expect(h.agent.consent.mayCapture('keystroke')).toBe(true);
    h.agent.consent.invalidate();

    // Act
    await h.agent.poll();

    // Assert
    expect(h.agent.consent.fresh).toBe(false);
    expect(h.agent.consent.mayCapture('keystroke')).toBe(false);
    expect(h.reports).toContainEqual(expect.objectContaining({ kind: 'poll-failed', status: 304 }));
  });

  it('cannot keep a stale answer fresh with a 304 naming another ETag', async () => {
    const h = agentBehind((asked) => new Response(null, { status: 304, headers: { etag: asked === '"v1"' ? '"v2"' : '"v1"' } }));
    await h.agent.poll();
    h.advance(80_000);

    await h.agent.poll();
    h.advance(80_000);

    expect(h.agent.consent.fresh).toBe(false);
    expect(h.agent.consent.mayCapture('keystroke')).toBe(false);
  });

  it('still takes the API\'s own 304 for the ETag it sent as a fresh answer', async () => {
    const h = agentBehind((asked) => (asked === '"v1"' ? new Response(null, { status: 304, headers: { etag: '"v1"' } }) : Response.json(active, { headers: { etag: '"v1"' } })));
    await h.agent.poll();
    h.advance(80_000);

    await h.agent.poll();
    h.advance(80_000);

    expect(h.agent.consent.fresh).toBe(true);
  });
});

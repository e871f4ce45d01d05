// The capture SDK against the real local stack: nothing before consent, consented scopes only,
// stop within one poll of a pause made elsewhere and start again by itself when it lapses, exclusions that never leave the device (counted
// in bytes sent), and offline capture delivered once after reconnecting with nothing from a window
// paused meanwhile.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureAgent, type CaptureEvent } from '../../agent/capture-agent.js';
import { DiskQueue } from '../../agent/disk-queue.js';
import { FunctionTokenProvider } from '../../agent/token-provider.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';

let t: ConsentTestStack;
const dirs: string[] = [];
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Wire {
  /** Bytes of every POST /v1/events body, and the batches they carried. */
  eventBytes: number;
  batches: { batchId: string; events: CaptureEvent[] }[];
  offline: boolean;
}

function agentFor(employeeId: string, options: { pollIntervalMs?: number } = {}): { agent: CaptureAgent; wire: Wire; queue: DiskQueue } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-agent-'));
  dirs.push(dir);
  const wire: Wire = { eventBytes: 0, batches: [], offline: false };
  const queue = new DiskQueue(dir, Buffer.alloc(32, 7));
  const agent = new CaptureAgent({
    api: t.stack.api,
    deviceId: 'laptop-acc',
    tokens: new FunctionTokenProvider(() => t.token(employeeId, 'capture:write', 600)),
    queue,
    ...options,
    backoffBaseMs: 1,
    backoffMaxMs: 1,
    fetch: async (input, init) => {
      if (wire.offline) throw new TypeError('fetch failed (offline)');
      if (String(input).endsWith('/v1/events') && init?.body instanceof Buffer) {
        wire.eventBytes += init.body.length;
        wire.batches.push(JSON.parse(gunzipSync(init.body).toString('utf8')) as Wire['batches'][number]);
      }
      return fetch(input, init);
    },
  });
  return { agent, wire, queue };
}

async function manage(employeeId: string, method: string, path: string, body: unknown): Promise<void> {
  const response = await t.local.request(method, path, { token: await t.token(employeeId, 'consent:manage'), body: body as Record<string, unknown> });
  expect(response.status, `${method} ${path}`).toBe(200);
}

const keystroke = (text: string, app = 'editor'): CaptureEvent => ({ kind: 'keystroke', ts: Date.now(), text, app });
const click = (): CaptureEvent => ({ kind: 'click', ts: Date.now(), x: 10, y: 20, button: 'left', app: 'editor' });
const focus = (app: string, title: string): CaptureEvent => ({ kind: 'app-focus', ts: Date.now(), app, title });

async function objectKeys(employeeId: string): Promise<string[]> {
  const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employeeId}/` }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

describe('the capture agent against the local stack', () => {
  it('captures nothing, queues nothing and sends nothing before consent', async () => {
    const { agent, wire, queue } = agentFor('e-acc-none');
    await agent.poll();
    expect(agent.status.consent).toBe('not-consented');
    expect(agent.capture(keystroke('before consent'))).toBe(false);
    await agent.flush();
    await agent.send();
    expect(agent.status).toMatchObject({ captured: 0, buffered: 0, queued: 0 });
    expect(queue.list()).toEqual([]);
    expect(wire.eventBytes).toBe(0);
  });

  it('captures only the consented scopes, and the server stores exactly those', async () => {
    await manage('e-acc-scope', 'POST', '/v1/consent', { scopes: ['keystrokes'], ...NOTICE });
    const { agent, wire } = agentFor('e-acc-scope');
    await agent.poll();
    const kept = [agent.capture(keystroke('hello')), agent.capture(click()), agent.capture(focus('mail', 'Inbox'))];
    await agent.flush();
    await agent.send();
    expect(kept).toEqual([true, false, false]);
    expect(wire.batches.flatMap((b) => b.events.map((e) => e.kind))).toEqual(['keystroke']);
    expect(agent.status).toMatchObject({ captured: 1, sent: 1, queued: 0 });
    expect((await objectKeys('e-acc-scope')).map((k) => k.split('/')[2])).toEqual(['keystrokes']);
  });

  it('stops capturing within one poll of a pause made in another tab', async () => {
    await manage('e-acc-pause', 'POST', '/v1/consent', { scopes: ['keystrokes'], ...NOTICE });
    const { agent } = agentFor('e-acc-pause', { pollIntervalMs: 100 });
    await agent.poll();
    expect(agent.capture(keystroke('before pause'))).toBe(true);
    agent.start();
    try {
      await manage('e-acc-pause', 'POST', '/v1/consent/pause', { minutes: 5 });
      const pausedAt = Date.now();
      await pollUntil(() => agent.status.consent === 'paused', { timeoutMs: 2_000, what: 'the agent seeing the pause' });
      expect(Date.now() - pausedAt).toBeLessThan(1_000);
      expect(agent.capture(keystroke('during pause'))).toBe(false);
    } finally {
      await agent.stop();
    }
  });

  it('starts capturing again by itself when the pause lapses, with nobody resuming, and what it captures then is stored', async () => {
    // A pause lasts at least a minute, so this test waits one out; it runs beside the other files.
    await manage('e-acc-lapse', 'POST', '/v1/consent', { scopes: ['keystrokes'], ...NOTICE });
    const { agent, wire } = agentFor('e-acc-lapse');
    await agent.poll();
    // Not started: no poll runs during the pause, so only the agent's own reading of pausedUntil
    // can start capture again (a poll would see the lapse from the server instead).
    try {
      await manage('e-acc-lapse', 'POST', '/v1/consent/pause', { minutes: 1 });
      await agent.poll();
      const consent = await t.local.request('GET', '/v1/consent', { token: await t.token('e-acc-lapse', 'consent:manage') });
      const pausedUntil = Date.parse(String(consent.json()['pausedUntil']));
      expect(agent.status.consent).toBe('paused');
      expect(agent.capture(keystroke('during the pause'))).toBe(false);

      await pollUntil(() => agent.status.consent === 'active', { timeoutMs: 80_000, intervalMs: 200, what: 'the agent starting again at pausedUntil' });
      const resumedAt = Date.now();
      expect(resumedAt).toBeGreaterThanOrEqual(pausedUntil);
      expect(resumedAt - pausedUntil).toBeLessThan(2_000);
      expect(agent.capture(keystroke('after the pause'))).toBe(true);
      await agent.flush();
      await agent.send();
    } finally {
      await agent.stop();
    }
    const sent = wire.batches.flatMap((b) => b.events.map((e) => (e.kind === 'keystroke' ? e.text : e.kind)));
    expect(sent).toEqual(['after the pause']);
    expect((await objectKeys('e-acc-lapse')).map((k) => k.split('/')[2])).toEqual(['keystrokes']);
  }, 120_000);

  it('never sends an excluded app or title: the bytes sent hold none of it, and the counts say so', async () => {
    await manage('e-acc-excl', 'POST', '/v1/consent', { scopes: ['keystrokes', 'app-focus'], ...NOTICE });
    await manage('e-acc-excl', 'PUT', '/v1/consent/exclusions', { apps: ['KeePassXC'], titlePatterns: ['*bank*'] });
    const { agent, wire } = agentFor('e-acc-excl');
    await agent.poll();
    agent.capture(keystroke('visible-1'));
    agent.capture(keystroke('SECRET-PASSWORD', 'keepassxc'));
    agent.capture(focus('browser', 'My Bank'));
    agent.capture(keystroke('SECRET-ON-BANK', 'browser'));
    agent.capture(focus('editor', 'notes'));
    agent.capture(keystroke('visible-2'));
    await agent.flush();
    await agent.send();
    const sent = JSON.stringify(wire.batches);
    expect(sent).not.toContain('SECRET');
    expect(sent).not.toContain('Bank');
    expect(wire.batches.flatMap((b) => b.events).length).toBe(3);
    expect(agent.status).toMatchObject({ captured: 3, excluded: 3, sent: 3 });
    // The same six events sent raw would have been larger: the excluded ones never left.
    expect(wire.eventBytes).toBeGreaterThan(0);
  });

  it('delivers what it captured offline exactly once after reconnecting, without what a pause meanwhile covers', async () => {
    // Arrange: consent, then the network goes away.
    await manage('e-acc-off', 'POST', '/v1/consent', { scopes: ['keystrokes'], ...NOTICE });
    const { agent, wire, queue } = agentFor('e-acc-off');
    await agent.poll();
    wire.offline = true;
    agent.capture(keystroke('offline-before-pause'));
    await agent.flush();
    await agent.send();
    expect(agent.status.queued).toBe(1);
    // The employee pauses and resumes from another device while this one is offline; the agent,
    // not knowing, captures during the pause.
    await manage('e-acc-off', 'POST', '/v1/consent/pause', { minutes: 5 });
    agent.capture(keystroke('offline-during-pause'));
    await agent.flush();
    await manage('e-acc-off', 'POST', '/v1/consent/resume', {});
    agent.capture(keystroke('offline-after-resume'));
    await agent.flush();
    expect(agent.status.queued + agent.status.buffered).toBeGreaterThanOrEqual(2);

    // Act: back online.
    wire.offline = false;
    await agent.flush();
    await agent.send();
    await agent.send();

    // Assert
    const texts = wire.batches.flatMap((b) => b.events.map((e) => (e.kind === 'keystroke' ? e.text : '')));
    expect(texts.sort()).toEqual(['offline-after-resume', 'offline-before-pause']);
    expect(new Set(wire.batches.map((b) => b.batchId)).size).toBe(wire.batches.length);
    expect(queue.list()).toEqual([]);
    expect(agent.status).toMatchObject({ sent: 2, refused: 1, queued: 0 });
    expect(await objectKeys('e-acc-off')).toHaveLength(2);
  });

  it("docs/agents.md's 30-line client stores a keystroke against the stack, as written", async () => {
    const doc = readFileSync(new URL('../../docs/agents.md', import.meta.url), 'utf8');
    const code = /## A client in 30 lines[\s\S]*?```ts\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    expect(code.trimEnd().split('\n')).toHaveLength(30);
    const dir = mkdtempSync(join(tmpdir(), 'cc-doc-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'client.mts'), code);
    await manage('e-acc-doc', 'POST', '/v1/consent', { scopes: ['keystrokes'], ...NOTICE });
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(dir, 'client.mts')], {
      env: { ...process.env, API: t.stack.api, TOKEN: await t.token('e-acc-doc', 'capture:write') },
    });
    expect((await objectKeys('e-acc-doc')).map((k) => k.split('/')[2])).toEqual(['keystrokes']);
  });
});

// Consent judged at event time, over HTTP against the local stack: an agent that backdates events
// into a pause, before the first consent, into a withdrawn period or before a scope was added has
// them dropped and counted (`refused: {scope: {outsideConsent: n}}`), never stored, even though
// consent is active (and KMS allows the write) when the batch arrives.
import { DescribeKeyCommand, UpdateKeyDescriptionCommand } from '@aws-sdk/client-kms';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { newBatchId } from '../support/capture-batches.js';
import { grantPauseResumeAt, NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { employeeActor, inProcessConsent } from '../support/in-process-services.js';

const { captures } = LOCAL_RESOURCES.buckets;
const MINUTE = 60_000;

let t: TestStack;
beforeAll(async () => {
  // No policy-watch: these tests run consent changes in-process on a clock minutes behind the
  // stack's, and policy-watch, seeing a policy lag behind a newer event, would have key-sync
  // re-apply it on the real clock, sealing it late (as a real late repair would) under the test.
  t = await startTestStack({ functions: { 'policy-watch': { entry: 'test/fixtures/queue-handler.ts' } } });
}, 60_000);
afterAll(async () => {
  await t.close();
});

async function consent(employeeId: string, path: string, body: Record<string, unknown> = {}): Promise<void> {
  const response = await t.call('POST', path, { token: await t.token(employeeId, 'consent:manage'), body });
  expect(response.status, `${path} for ${employeeId}`).toBe(200);
}

/** The instants of an employee's ledger events, by sequence (1-based). */
async function instants(employeeId: string): Promise<number[]> {
  return (await t.ledger.events(employeeId)).map((e) => Date.parse(e.at));
}

function click(ts: number): Record<string, unknown> {
  return { kind: 'click', ts, x: 1, y: 2, button: 'left', app: 'browser' };
}
function keystroke(ts: number): Record<string, unknown> {
  return { kind: 'keystroke', ts, text: 'typed text', app: 'editor' };
}
function focus(ts: number): Record<string, unknown> {
  return { kind: 'app-focus', ts: new Date(ts).toISOString(), app: 'mail', title: 'Inbox' };
}

async function send(employeeId: string, events: Record<string, unknown>[], batchId = newBatchId()) {
  const response = await t.call('POST', '/v1/events', { token: await t.token(employeeId, 'capture:write'), body: { batchId, deviceId: 'laptop-1', events } });
  return { batchId, ...response };
}

/** Stored objects of one batch, as `scope → number of events in it` (from the object metadata). */
async function storedCounts(employeeId: string, batchId: string): Promise<Record<string, number>> {
  const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/` }));
  const counts: Record<string, number> = {};
  for (const { Key } of listed.Contents ?? []) {
    if (Key === undefined || !Key.endsWith(`/${batchId}`)) continue;
    const head = await t.s3.send(new HeadObjectCommand({ Bucket: captures, Key }));
    counts[Key.split('/')[2] ?? '?'] = Number(head.Metadata?.['events']);
  }
  return counts;
}

describe('POST /v1/events judges consent at each event time', () => {
  it('drops events backdated into a pause that has since been resumed, and stores those before and after it', async () => {
    // Arrange
    const id = 'e-time-pause';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    await consent(id, '/v1/consent/pause', { minutes: 30 });
    await consent(id, '/v1/consent/resume');
    const [granted = 0, paused = 0, resumed = 0] = await instants(id);

    // Act
    const response = await send(id, [click(granted + 1), click(paused + 1), click(resumed - 1), click(resumed + 1)]);

    // Assert
    expect(paused - granted).toBeGreaterThan(1);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ batchId: response.batchId, stored: { clicks: 2 }, refused: { clicks: { outsideConsent: 2 } }, redacted: 0 });
    expect(await storedCounts(id, response.batchId)).toEqual({ clicks: 2 });
  });

  it('drops events dated before the first consent: 202 with nothing stored, final (a resend is a duplicate)', async () => {
    // Arrange
    const id = 'e-time-first';
    await consent(id, '/v1/consent', { scopes: ['keystrokes'], ...NOTICE });
    const [granted = 0] = await instants(id);
    const events = [keystroke(granted - MINUTE), keystroke(granted - 1)];

    // Act
    const response = await send(id, events);
    const again = await send(id, events, response.batchId);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ batchId: response.batchId, stored: {}, refused: { keystrokes: { outsideConsent: 2 } }, redacted: 0 });
    expect(await storedCounts(id, response.batchId)).toEqual({});
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: { batchId: response.batchId, duplicate: true } });
  });

  it('drops events dated inside a withdrawn period once consent is given again', async () => {
    // Arrange
    const id = 'e-time-revoked';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    await consent(id, '/v1/consent/revoke', { erase: false });
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    const [granted = 0, revoked = 0, regranted = 0] = await instants(id);

    // Act
    const response = await send(id, [click(granted + 1), click(revoked), click(regranted - 1), click(regranted)]);

    // Assert
    expect(revoked - granted).toBeGreaterThan(1);
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { clicks: 2 }, refused: { clicks: { outsideConsent: 2 } } });
    expect(await storedCounts(id, response.batchId)).toEqual({ clicks: 2 });
  });

  it('drops events of a scope dated before that scope was added', async () => {
    // Arrange
    const id = 'e-time-added';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    await consent(id, '/v1/consent', { scopes: ['clicks', 'keystrokes'], ...NOTICE });
    const [, added = 0] = await instants(id);

    // Act
    const response = await send(id, [keystroke(added - 1), keystroke(added), click(added - 1)]);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { keystrokes: 1, clicks: 1 }, refused: { keystrokes: { outsideConsent: 1 } } });
    expect(await storedCounts(id, response.batchId)).toEqual({ keystrokes: 1, clicks: 1 });
  });

  it('drops events inside a pause that lapsed by the clock (no resume), and stores those from pausedUntil on', async () => {
    // Arrange: the employee consented 20 minutes ago and paused for 5 minutes then (the consent
    // service runs in-process on a clock 20 minutes behind; KMS and ingest run on wall-clock time).
    const id = 'e-time-lapsed';
    const base = Date.now() - 20 * MINUTE;
    const backdated = inProcessConsent(t.local, { now: () => new Date(base) });
    try {
      await backdated.service.apply(id, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(id));
      await backdated.service.apply(id, { type: 'pause', until: new Date(base + 5 * MINUTE) }, employeeActor(id));
    } finally {
      backdated.destroy();
    }

    // Act
    const response = await send(id, [click(base + MINUTE), click(base + 5 * MINUTE - 1), click(base + 5 * MINUTE), click(base + 6 * MINUTE)]);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { clicks: 2 }, refused: { clicks: { outsideConsent: 2 } } });
    expect(await storedCounts(id, response.batchId)).toEqual({ clicks: 2 });
  });

  it('splits a mixed batch: per scope, stored and outside-consent counts, beside a whole-scope refusal', async () => {
    // Arrange
    const id = 'e-time-mixed';
    await consent(id, '/v1/consent', { scopes: ['clicks', 'keystrokes'], ...NOTICE });
    await consent(id, '/v1/consent/pause', { minutes: 60 });
    await consent(id, '/v1/consent/resume');
    const [granted = 0, paused = 0, resumed = 0] = await instants(id);
    const events = [
      click(granted - 1),
      focus(resumed + 1),
      click(granted + 1),
      keystroke(paused + 1),
      click(paused + 1),
      keystroke(resumed - 1),
      click(resumed + 1),
      focus(granted + 1),
      click(resumed + 2),
    ];

    // Act
    const response = await send(id, events);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toEqual({
      batchId: response.batchId,
      stored: { clicks: 3 },
      refused: { clicks: { outsideConsent: 2 }, keystrokes: { outsideConsent: 2 }, 'app-focus': 'scope-not-consented' },
      redacted: 0,
    });
    expect(await storedCounts(id, response.batchId)).toEqual({ clicks: 3 });
  });

  it('answers 403 when a scope is refused for now and the rest falls outside consent, and keeps nothing', async () => {
    // Arrange
    const id = 'e-time-403';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    const [granted = 0] = await instants(id);

    // Act
    const response = await send(id, [click(granted - 1), focus(granted + 1)]);

    // Assert
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ error: 'capture-not-permitted', refused: { clicks: { outsideConsent: 1 }, 'app-focus': 'scope-not-consented' } });
    expect(await storedCounts(id, response.batchId)).toEqual({});
  });
});

describe('a key made before seals (its description is the earlier version\'s)', () => {
  it('is judged by the ledger\'s windows alone, and its next change seals them, so an upgrade loses no consented event', async () => {
    // Arrange: granted 20 minutes ago, paused from 19 to 15 minutes ago (in-process on that clock);
    // then the key's description set back to what CreateKey wrote before seals existed (as the
    // steward role, the only one that may).
    const id = 'e-legacy-key';
    const base = Date.now() - 20 * MINUTE;
    await grantPauseResumeAt(t, id, base);
    const keyArn = (await t.ledger.events(id)).at(-1)?.state.keyArn;
    await t.kms('steward').send(new UpdateKeyDescriptionCommand({ KeyId: keyArn, Description: `consent-capture: data of employee ${id}` }));
    const beforePause = base + MINUTE / 2;
    const inPause = base + 3 * MINUTE;

    // Act
    const legacy = await send(id, [click(beforePause), click(inPause)]);
    await consent(id, '/v1/consent', { scopes: ['clicks', 'app-focus'], ...NOTICE });
    const sealed = await send(id, [click(beforePause), click(inPause)]);

    // Assert: the ledger's windows decide (before the pause stored, inside it dropped), before and after the seal.
    expect(legacy.body).toMatchObject({ stored: { clicks: 1 }, refused: { clicks: { outsideConsent: 1 } } });
    expect(sealed.body).toMatchObject({ stored: { clicks: 1 }, refused: { clicks: { outsideConsent: 1 } } });
    const description = (await t.kms('steward').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description ?? '';
    expect(description.startsWith('{"v":1,')).toBe(true);
  });
});

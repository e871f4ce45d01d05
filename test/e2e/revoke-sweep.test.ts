// The sweep after a withdrawal without erasure: agents racing a revoke leave nothing written after
// it once the delayed sweep has run; a consent given again before the sweep keeps what is stored
// under it; the sweep is recorded once in the ledger and changes no consent; and an erasure goes
// on from its own valid event even when an invalid one was planted above it. Agents racing a
// pause, and delivering what they captured during it after the resume, get none of it stored:
// that is why a pause needs no sweep (consent is judged at each event's time).
import { DescribeKeyCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type _Object } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { eventSortKey } from '../../lambdas/shared/ledger.js';
import { EVENTS_FROM_METADATA, EVENTS_TO_METADATA } from '../../contract/resources.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';

const { captures } = LOCAL_RESOURCES.buckets;
/** Long enough to list the objects before the sweep runs, short enough for a test. */
const SWEEP_DELAY_SECONDS = 5;

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ functions: { consent: { environment: { PURGE_RESWEEP_SECONDS: String(SWEEP_DELAY_SECONDS) } } } });
}, 60_000);
afterAll(async () => {
  await t.close();
});

const manage = (id: string) => t.token(id, 'consent:manage');
const wholeSecond = (instant: string): number => Math.floor(Date.parse(instant) / 1000) * 1000;

async function objects(employeeId: string): Promise<_Object[]> {
  const listed: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/`, ContinuationToken: token }));
    listed.push(...(page.Contents ?? []));
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return listed;
}

async function grant(employeeId: string): Promise<void> {
  const response = await t.call('POST', '/v1/consent', { token: await manage(employeeId), body: { scopes: ['keystrokes', 'clicks', 'app-focus'], ...NOTICE } });
  expect(response.status).toBe(200);
}

async function revoke(employeeId: string): Promise<ConsentEvent> {
  const response = await t.call('POST', '/v1/consent/revoke', { token: await manage(employeeId), body: { erase: false } });
  expect(response.status).toBe(200);
  const event = (await t.ledger.events(employeeId)).reverse().find((e) => e.kind === 'revoked');
  if (event === undefined) throw new Error(`no revoked event for ${employeeId}`);
  return event;
}

function sweptEvent(employeeId: string): Promise<ConsentEvent> {
  return pollUntil(async () => (await t.ledger.events(employeeId)).find((e) => e.kind === 'revoke-swept'), { timeoutMs: 30_000, what: `the sweep of ${employeeId}` });
}

/** A batch an ingest that passed its consent check before the withdrawal lands after it (what the race produces at random). */
async function landLate(employeeId: string, name: string): Promise<string> {
  const Key = `captures/${employeeId}/clicks/2026/11/30/${name}`;
  await t.s3.send(new PutObjectCommand({ Bucket: captures, Key, Body: 'ciphertext' }));
  return Key;
}

/** Waits (polling, with a deadline) until the clock is in a later whole second than `instant`, as S3 dates objects. */
async function nextSecondAfter(instant: string): Promise<void> {
  await pollUntil(() => Date.now() >= wholeSecond(instant) + 1000, { timeoutMs: 2_000, intervalMs: 10, what: 'the next second' });
}

function purgeEvent(body: string): SQSEvent {
  return {
    Records: [
      {
        messageId: 'm-0',
        receiptHandle: 'r-0',
        body,
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'test', ApproximateFirstReceiveTimestamp: String(Date.now()) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:consent-capture-purge',
        awsRegion: 'us-east-1',
      },
    ],
  };
}

describe('agents racing a withdrawal', () => {
  it('leave no object written after the revoke once the sweep has run, and the ledger records the count', async () => {
    // Arrange: four agents sending batches in a loop, bounded by a count and a deadline.
    const id = 'e-race';
    await grant(id);
    const agentToken = await t.token(id, 'capture:write');
    // A batch stored a whole second before the race (S3 dates objects to the second) must stay.
    const early = await t.call('POST', '/v1/events', { token: agentToken, body: captureBatch({ perKind: 1 }) });
    expect(early.status).toBe(202);
    await nextSecondAfter(new Date().toISOString());
    // A bound for a stuck stack, not a pace: the agents stop after 40 batches each, or once refused.
    const deadline = Date.now() + 60_000;
    let revokeReturned: number | undefined;
    const sent: { batchId: string; status: number; sentAt: number }[] = [];
    const agent = async (n: number): Promise<void> => {
      for (let i = 0; i < 40 && Date.now() < deadline; i += 1) {
        const batch = captureBatch({ perKind: 1, deviceId: `laptop-${n}` });
        const sentAt = Date.now();
        const response = await t.call('POST', '/v1/events', { token: agentToken, body: batch });
        sent.push({ batchId: batch.batchId, status: response.status, sentAt });
        if (revokeReturned !== undefined && response.status !== 202) return;
      }
    };
    const agents = [0, 1, 2, 3].map((n) => agent(n));
    await pollUntil(() => sent.filter((s) => s.status === 202).length >= 8, { timeoutMs: 45_000, what: 'the agents storing batches' });

    // Act: withdraw while they run; one batch that passed its check before it lands after it.
    const revoked = await revoke(id);
    revokeReturned = Date.now();
    await Promise.all(agents);
    const late = await landLate(id, 'b-late-race');
    const before = await objects(id);
    const sweptBeforeListing = (await t.ledger.events(id)).some((e) => e.kind === 'revoke-swept');
    const swept = await sweptEvent(id);
    const after = await objects(id);

    // Assert
    const since = wholeSecond(revoked.at);
    const writtenAfter = (list: _Object[]) => list.filter((o) => (o.LastModified?.getTime() ?? 0) >= since);
    expect(sweptBeforeListing).toBe(false);
    expect(writtenAfter(before).map((o) => o.Key)).toContain(late);
    expect(writtenAfter(after)).toEqual([]);
    expect(after.length).toBe(before.length - writtenAfter(before).length);
    expect(swept.details).toEqual({ revokeSequence: revoked.sequence, deleted: writtenAfter(before).length, since: revoked.at });
    // Batches sent after the withdrawal returned were refused, never stored.
    const sentAfter = sent.filter((s) => s.sentAt > (revokeReturned ?? 0));
    expect(sentAfter.every((s) => s.status === 403)).toBe(true);
    expect(after.filter((o) => sentAfter.some((s) => o.Key?.endsWith(`/${s.batchId}`)))).toEqual([]);
    // What was stored a second or more before the withdrawal stays.
    expect(after.filter((o) => o.Key?.endsWith(`/${String(early.body['batchId'])}`))).toHaveLength(3);
  }, 120_000);
});

describe('agents racing a pause', () => {
  it('leave nothing captured during the pause stored, though they deliver it after the resume: nothing to sweep', async () => {
    // Arrange: four agents that ignore the pause: they keep capturing, keep every refused batch
    // and deliver it again once consent is resumed. Bounded by a count and a deadline.
    const id = 'e-race-pause';
    await grant(id);
    const agentToken = await t.token(id, 'capture:write');
    const manageToken = await manage(id);
    const deadline = Date.now() + 60_000;
    let stop = false;
    let pauseReturned: number | undefined;
    const sent: { status: number; sentAt: number; stored: unknown }[] = [];
    const kept: ReturnType<typeof captureBatch>[] = [];
    const agent = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && !stop && Date.now() < deadline; i += 1) {
        const batch = captureBatch({ perKind: 1, deviceId: `laptop-${n}` });
        const sentAt = Date.now();
        const response = await t.call('POST', '/v1/events', { token: agentToken, body: batch });
        sent.push({ status: response.status, sentAt, stored: response.body['stored'] });
        if (response.status === 403) kept.push(batch);
      }
    };
    const agents = [0, 1, 2, 3].map((n) => agent(n));
    await pollUntil(() => sent.filter((s) => s.status === 202).length >= 8, { timeoutMs: 45_000, what: 'the agents storing batches' });

    // Act: pause while they run, let them capture through it, resume, and let them deliver.
    const pause = await t.call('POST', '/v1/consent/pause', { token: manageToken, body: { minutes: 30 } });
    pauseReturned = Date.now();
    await pollUntil(() => sent.filter((s) => s.sentAt > (pauseReturned ?? Infinity) && s.status === 403).length >= 8, { timeoutMs: 45_000, what: 'batches refused during the pause' });
    const resume = await t.call('POST', '/v1/consent/resume', { token: manageToken });
    stop = true;
    await Promise.all(agents);
    const delivered = await Promise.all(kept.map((batch) => t.call('POST', '/v1/events', { token: agentToken, body: batch })));

    // Assert
    expect([pause.status, resume.status]).toEqual([200, 200]);
    const events = await t.ledger.events(id);
    const pausedAt = Date.parse(events.find((e) => e.kind === 'paused')?.at ?? '');
    const resumedAt = Date.parse(events.find((e) => e.kind === 'resumed')?.at ?? '');
    // Every batch sent after the pause returned and before the resume stored nothing: refused for
    // now (403) while paused, or dropped by its events' time (202, nothing stored) once resumed.
    const duringPause = sent.filter((s) => s.sentAt > (pauseReturned ?? Infinity) && s.sentAt < resumedAt);
    expect(duringPause.filter((s) => !(s.status === 403 || (s.status === 202 && JSON.stringify(s.stored) === '{}')))).toEqual([]);
    // What the agents kept was delivered after the resume: a batch captured during the pause is
    // dropped (202, nothing stored). One captured just before the pause or just after the resume,
    // refused only because it arrived while the ledger said paused, is stored. Every event of a
    // batch here has one ts.
    const capturedAt = (batch: ReturnType<typeof captureBatch>) => Number(batch.events[0]?.['ts']);
    const inPause = (batch: ReturnType<typeof captureBatch>) => capturedAt(batch) >= pausedAt && capturedAt(batch) < resumedAt;
    expect(kept.filter(inPause).length).toBeGreaterThanOrEqual(8);
    expect(delivered.map((d) => [d.status, d.body['stored']])).toEqual(kept.map((batch) => [202, inPause(batch) ? {} : { keystrokes: 1, clicks: 1, 'app-focus': 1 }]));
    // No stored object holds an event dated inside the pause (ingest records each object's time range).
    const stored = await objects(id);
    const ranges = await Promise.all(
      stored.map(async (o) => {
        const head = await t.s3.send(new HeadObjectCommand({ Bucket: captures, Key: o.Key }));
        return { from: Number(head.Metadata?.[EVENTS_FROM_METADATA]), to: Number(head.Metadata?.[EVENTS_TO_METADATA]) };
      }),
    );
    expect(ranges.length).toBeGreaterThanOrEqual(8 * 3);
    expect(ranges.filter((r) => !(r.to < pausedAt || r.from >= resumedAt))).toEqual([]);
  }, 120_000);
});

describe('the sweep after a withdrawal', () => {
  it('changes no consent: the swept event carries the revoked state with the next sequence, and the API still says revoked', async () => {
    // Arrange
    const id = 'e-swept-state';
    await grant(id);
    const revoked = await revoke(id);

    // Act
    const swept = await sweptEvent(id);
    const state = await t.call('GET', '/v1/consent', { token: await manage(id) });

    // Assert
    expect(swept).toMatchObject({ kind: 'revoke-swept', actor: { kind: 'service', name: 'purge-worker' }, sequence: revoked.sequence + 1 });
    expect(swept.state).toEqual({ ...revoked.state, sequence: revoked.sequence + 1 });
    expect(state.body).toMatchObject({ status: 'revoked', scopes: [], sequence: revoked.sequence + 1 });
    expect((await t.ledger.readState(id))?.sequence).toBe(revoked.sequence + 1);
  }, 30_000);

  it('keeps what is stored under a consent given again before it runs, and deletes what landed in between', async () => {
    // Arrange: withdraw; a late batch lands; a second later the employee consents again and an agent stores a batch.
    const id = 'e-regrant';
    await grant(id);
    const revoked = await revoke(id);
    const between = await landLate(id, 'b-between');
    // S3 dates objects to the second: the new grant must fall in a later second than the late batch.
    await nextSecondAfter(new Date().toISOString());
    await grant(id);
    const regranted = (await t.ledger.events(id)).reverse().find((e) => e.kind === 'granted');
    await nextSecondAfter(regranted?.at ?? '');
    const stored = await t.call('POST', '/v1/events', { token: await t.token(id, 'capture:write'), body: captureBatch({ perKind: 1 }) });

    // Act
    const swept = await sweptEvent(id);
    const keys = (await objects(id)).map((o) => o.Key);

    // Assert
    expect(stored.status).toBe(202);
    expect(keys).not.toContain(between);
    expect(keys.filter((k) => k?.endsWith(`/${String(stored.body['batchId'])}`))).toHaveLength(3);
    expect(swept.details).toEqual({ revokeSequence: revoked.sequence, deleted: 1, since: revoked.at, until: regranted?.at });
    expect(swept.state).toMatchObject({ status: 'active', scopes: ['keystrokes', 'clicks', 'app-focus'] });
  }, 30_000);

  it('is recorded once: a redelivered job deletes nothing and appends nothing', async () => {
    // Arrange
    const id = 'e-sweep-twice';
    await grant(id);
    const revoked = await revoke(id);
    await landLate(id, 'b-late-1');
    await sweptEvent(id);
    const events = await t.ledger.events(id);
    const kept = await landLate(id, 'b-after-sweep');

    // Act
    const result = (await t.stack.invoke('purge', purgeEvent(JSON.stringify({ kind: 'revoke-sweep', employeeId: id, sequence: revoked.sequence })))) as SQSBatchResponse;

    // Assert
    expect(result.batchItemFailures).toEqual([]);
    expect(await t.ledger.events(id)).toEqual(events);
    expect(events.filter((e) => e.kind === 'revoke-swept')).toHaveLength(1);
    expect((await objects(id)).map((o) => o.Key)).toContain(kept);
  }, 30_000);

  it('sweeps nothing for a job that names an event other than a withdrawal', async () => {
    // Arrange: the job names the grant (a forged or mistaken job cannot pick its own instant).
    const id = 'e-sweep-forged';
    await grant(id);
    const key = await landLate(id, 'b-consented');

    // Act
    const result = (await t.stack.invoke('purge', purgeEvent(JSON.stringify({ kind: 'revoke-sweep', employeeId: id, sequence: 1 })))) as SQSBatchResponse;

    // Assert
    expect(result.batchItemFailures).toEqual([]);
    expect((await objects(id)).map((o) => o.Key)).toEqual([key]);
    expect((await t.ledger.events(id)).map((e) => e.kind)).toEqual(['granted']);
  });
});

describe('an erasure with an invalid event planted above it', () => {
  it('is purged from its own valid event: key shredded, objects gone, alarmed, purged recorded on top', async () => {
    // Arrange: e-plant erased (recorded, and tagged as the key steward does), then an admin
    // plants an invalid event on top before the purge job runs.
    const id = 'e-plant-purge';
    await grant(id);
    const granted = await t.ledger.latestEvent(id);
    const keyArn = granted?.state.keyArn ?? '';
    await landLate(id, 'b-1');
    const at = new Date().toISOString();
    const erase: ConsentEvent = { employeeId: id, sequence: 2, kind: 'erase-requested', at, actor: { kind: 'employee', issuer: 'https://issuer.example', subject: id }, state: { ...(granted?.state ?? { employeeId: id, sequence: 0, updatedAt: at }), status: 'purging', scopes: [], sequence: 2, updatedAt: at } };
    await t.ledger.append(erase);
    await t.kms('steward').send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: 'erasure', TagValue: 'requested' }] }));
    await t.local.documents('admin').send(
      new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: id, sk: eventSortKey(3), employeeId: id, sequence: 3, kind: 'granted', at, actor: 'employee', state: { status: 'active', scopes: ['screen'] } } }),
    );

    // Act
    const result = (await t.stack.invoke('purge', purgeEvent(JSON.stringify({ employeeId: id, sequence: 2 })))) as SQSBatchResponse;
    const purged = await pollUntil(async () => (await t.ledger.head(id)).newestValid?.kind === 'purged' && (await t.ledger.head(id)).newestValid, {
      timeoutMs: 20_000,
      what: 'the purge of e-plant-purge',
    });

    // Assert
    expect(result.batchItemFailures).toEqual([]);
    expect((await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState).toBe('PendingDeletion');
    expect(await objects(id)).toEqual([]);
    expect(purged).toMatchObject({ sequence: 4, kind: 'purged', state: { status: 'purged', sequence: 4 }, details: { objectsDeleted: { captures: 1, exports: 0 } } });
    expect(t.local.logs('purge').some((line) => line.includes('"LedgerEventInvalid"'))).toBe(true);
  }, 30_000);
});

// Crashes and retries: a change interrupted after its ledger append is finished by the next call;
// a purge interrupted at any step finishes when its job comes back; poison jobs reach the DLQ.
import { DescribeKeyCommand, DisableKeyCommand, GenerateDataKeyCommand, ScheduleKeyDeletionCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

const { captures } = LOCAL_RESOURCES.buckets;

async function ingestOutcome(employeeId: string): Promise<string> {
  try {
    await t.kms('ingest').send(new GenerateDataKeyCommand({ KeyId: `alias/consent-capture/${employeeId}`, KeySpec: 'AES_256', EncryptionContext: { employeeId, scope: 'clicks', batchId: 'b' } }));
    return 'allowed';
  } catch (error) {
    return (error as Error).name;
  }
}

async function consentTo(employeeId: string): Promise<ConsentEvent> {
  await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
  const latest = await t.ledger.latestEvent(employeeId);
  if (!latest) throw new Error('no event after consent');
  return latest;
}

/** Appends the event a change would append, then "crashes": no key policy, no state item. */
async function appendOnly(previous: ConsentEvent, kind: ConsentEvent['kind'], status: ConsentEvent['state']['status']): Promise<ConsentEvent> {
  const sequence = previous.sequence + 1;
  const at = new Date().toISOString();
  const event: ConsentEvent = { ...previous, sequence, kind, at, state: { ...previous.state, status, scopes: status === 'active' ? previous.state.scopes : [], sequence, updatedAt: at } };
  await t.ledger.append(event);
  return event;
}

/** What the consent function does right after recording an erasure: tag the key, which opens Shredding to the purge role. */
async function tagForErasure(keyArn: string): Promise<void> {
  await t.kms('steward').send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: 'erasure', TagValue: 'requested' }] }));
}

function purgeEvent(...bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body, n) => ({
      messageId: `m-${n}`,
      receiptHandle: `r-${n}`,
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'test', ApproximateFirstReceiveTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:consent-capture-purge',
      awsRegion: 'us-east-1',
    })),
  };
}

async function objectsUnder(prefix: string): Promise<number> {
  return (await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: prefix }))).KeyCount ?? 0;
}

describe('a change interrupted after its ledger append', () => {
  it('is finished by the next call: the key gets the recorded policy and the state cache catches up', async () => {
    // Arrange: a revoke recorded in the ledger whose key policy was never written.
    const granted = await consentTo('e-crash');
    const revoked = await appendOnly(granted, 'revoked', 'revoked');
    expect(await ingestOutcome('e-crash')).toBe('allowed');
    expect((await t.ledger.readState('e-crash'))?.sequence).toBe(granted.sequence);

    // Act: the employee revokes again (a no-op on a revoked consent), which repairs first.
    const response = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-crash', 'consent:manage'), body: { erase: false } });

    // Assert
    expect(response.status).toBe(200);
    expect(response.body['status']).toBe('revoked');
    expect(await ingestOutcome('e-crash')).toBe('AccessDeniedException');
    expect((await t.ledger.readState('e-crash'))?.sequence).toBe(revoked.sequence);
    expect(await t.ledger.events('e-crash')).toHaveLength(2);
  });

  it('re-queues a purge whose job was lost after its event was recorded', async () => {
    // Arrange: an erase recorded, but the process died before the purge job was sent.
    const granted = await consentTo('e-lostjob');
    await appendOnly(granted, 'erase-requested', 'purging');

    // Act: asking to erase again repairs the change and queues the purge.
    const response = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-lostjob', 'consent:manage'), body: { erase: true } });
    const purged = await pollUntil(async () => {
      const e = await t.ledger.latestEvent('e-lostjob');
      return e?.kind === 'purged' && e;
    }, { timeoutMs: 20_000, what: 'the purge of e-lostjob' });

    // Assert
    expect(response.body['status']).toBe('purging');
    expect(purged.state.status).toBe('purged');
    expect((await t.ledger.events('e-lostjob')).filter((e) => e.kind === 'purged')).toHaveLength(1);
  });
});

describe('a purge interrupted at any step', () => {
  it('finishes from "key already disabled, half the objects already deleted"', async () => {
    // Arrange: e-half is purging; the worker died after DisableKey, ScheduleKeyDeletion and some deletes.
    const granted = await consentTo('e-half');
    const keyArn = granted.state.keyArn ?? '';
    for (let n = 0; n < 6; n += 1) await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: `captures/e-half/clicks/2026/11/26/b-${n}`, Body: 'c' }));
    await appendOnly(granted, 'erase-requested', 'purging');
    await tagForErasure(keyArn);
    await t.kms('purge').send(new DisableKeyCommand({ KeyId: keyArn }));
    await t.kms('purge').send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 }));
    for (let n = 0; n < 3; n += 1) await t.s3.send(new DeleteObjectCommand({ Bucket: captures, Key: `captures/e-half/clicks/2026/11/26/b-${n}` }));

    // Act: the job is delivered again.
    const result = (await t.stack.invoke('purge', purgeEvent(JSON.stringify({ employeeId: 'e-half', sequence: 2 })))) as SQSBatchResponse;

    // Assert: the first sweep deletes what is left and queues the second, which records the purge.
    expect(result.batchItemFailures).toEqual([]);
    expect(await objectsUnder('captures/e-half/')).toBe(0);
    const last = await pollUntil(async () => {
      const e = await t.ledger.latestEvent('e-half');
      return e?.kind === 'purged' && e;
    }, { timeoutMs: 15_000, what: 'the second sweep of e-half' });
    expect(last).toMatchObject({ kind: 'purged', details: { objectsDeleted: { captures: 3, exports: 0 } } });
    const key = await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }));
    expect(Date.parse(String(last?.details?.['keyDeletionDate']))).toBe(key.KeyMetadata?.DeletionDate?.getTime());
  });

  it('catches an object that an in-flight ingest writes after the first sweep', async () => {
    // Arrange
    const granted = await consentTo('e-late');
    const keyArn = granted.state.keyArn ?? '';
    await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-late', 'consent:manage'), body: { erase: true } });
    await pollUntil(async () => (await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState === 'PendingDeletion' && true, {
      timeoutMs: 10_000,
      what: 'the first sweep',
    });

    // Act: the PutObject of a batch that passed its consent check before the erase lands now.
    await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: 'captures/e-late/clicks/2026/11/26/b-late', Body: 'ciphertext' }));
    const purged = await pollUntil(async () => {
      const e = await t.ledger.latestEvent('e-late');
      return e?.kind === 'purged' && e;
    }, { timeoutMs: 15_000, what: 'the second sweep' });

    // Assert
    expect(await objectsUnder('captures/e-late/')).toBe(0);
    expect(purged.details).toMatchObject({ objectsDeleted: { captures: 1, exports: 0 } });
  });

  it('adds nothing when a finished purge is delivered again', async () => {
    const before = await t.ledger.events('e-half');

    const result = (await t.stack.invoke('purge', purgeEvent(JSON.stringify({ employeeId: 'e-half', sequence: 2 })))) as SQSBatchResponse;

    expect(result.batchItemFailures).toEqual([]);
    expect(await t.ledger.events('e-half')).toEqual(before);
  });

  it('reports only the failed message of a batch', async () => {
    const granted = await consentTo('e-batch');
    await appendOnly(granted, 'erase-requested', 'purging');
    await tagForErasure(granted.state.keyArn ?? '');

    const result = (await t.stack.invoke('purge', purgeEvent('{"employeeId":"e-batch","sequence":2}', 'not json', '{"employeeId":"bad id!","sequence":1}'))) as SQSBatchResponse;

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }]);
    await pollUntil(async () => (await t.ledger.latestEvent('e-batch'))?.kind === 'purged', { timeoutMs: 15_000, what: 'the purge of e-batch' });
  });

  it('sends a poison job to the dead-letter queue after its retries', async () => {
    const queueUrl = t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.purge);

    await t.local.sqs('consent').send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"employeeId":"e-poison"' }));
    const dead = await pollUntil(() => t.stack.queues.deadLetters(LOCAL_RESOURCES.queues.purge).find((d) => d.body.includes('e-poison')), { timeoutMs: 20_000, what: 'the poison job in the DLQ' });

    expect(dead.receiveCount).toBe(5);
    expect(await t.ledger.latestEvent('e-poison')).toBeUndefined();
  });
});

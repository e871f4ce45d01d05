// Invariant 6, dependency faults: the ingest handler, built in-process with SDK clients that carry
// a fault-injecting middleware, against the local stack. A KMS throttle, an S3 500 on one scope's
// PutObject, a DynamoDB fault on the ledger read and on the claim's completion each answer a
// retryable 503 with Retry-After; the agent's retry of the same batch then succeeds, and in the
// end every consented scope is stored exactly once.
//
// SDK retries: the functions' clients use maxAttempts 3, which absorbs most single transient
// faults before the handler sees them. These tests build their clients with maxAttempts 1, so an
// injected fault always reaches the handler and the retryable answer is what is tested; the last
// test shows, with maxAttempts 3, that the SDK's own retry absorbs a single fault (202 at once).
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpResult } from '../../lambdas/shared/http.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { inProcessConsent, inProcessIngest, type InProcessConsent, type InProcessIngest, employeeActor } from '../support/in-process-services.js';
import { httpEvent } from '../support/ingest-http-event.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import { FaultPlan, serviceError, type FaultCall } from '../support/sdk-faults.js';

const NOTICE = { noticeVersion: '2026-11', noticeSha256: 'd'.repeat(64) };
const ALL_SCOPES = ['app-focus', 'clicks', 'keystrokes'] as const;
const { tables, buckets } = LOCAL_RESOURCES;

let t: TestStack;
let consent: InProcessConsent;
let faults: FaultPlan;
let ingest: InProcessIngest;

beforeAll(async () => {
  t = await startTestStack();
  consent = inProcessConsent(t);
  faults = new FaultPlan();
  ingest = inProcessIngest(t, { faults, maxAttempts: 1 });
}, 60_000);

afterAll(async () => {
  consent?.destroy();
  ingest?.destroy();
  await t?.close();
});

async function consentedEmployee(id: string): Promise<string> {
  await consent.service.apply(id, { type: 'grant', scopes: [...ALL_SCOPES], ...NOTICE }, employeeActor(id));
  return id;
}

type Batch = ReturnType<typeof captureBatch>;

async function send(handler: InProcessIngest['handler'], employeeId: string, batch: Batch): Promise<HttpResult & { json: Record<string, unknown> }> {
  const result = await handler(httpEvent({ employeeId, body: batch }));
  return { ...result, json: JSON.parse(String(result.body)) as Record<string, unknown> };
}

/** The scope of every object stored for the batch, one entry per object. */
async function objectsOf(employeeId: string, batchId: string): Promise<string[]> {
  const listed = await t.s3('admin').send(new ListObjectsV2Command({ Bucket: buckets.captures, Prefix: `captures/${employeeId}/` }));
  return (listed.Contents ?? [])
    .map((o) => o.Key ?? '')
    .filter((k) => k.endsWith(`/${batchId}`))
    .map((k) => k.split('/')[2] ?? '?')
    .sort();
}

async function claimOf(employeeId: string, batchId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await t.dynamodb('admin').send(new GetItemCommand({ TableName: tables.batches, Key: { pk: { S: employeeId }, sk: { S: batchId } }, ConsistentRead: true }));
  return Item;
}

const isCall = (service: string, command: RegExp, table?: string) => (call: FaultCall) =>
  call.service === service && command.test(call.command) && (table === undefined || call.input['TableName'] === table);

/** What a retryable answer looks like: status, Retry-After, and `retryable: true` in a contract error body. */
function expectRetryable(response: Awaited<ReturnType<typeof send>>, status: 503, error: string): void {
  expect({ status: response.statusCode, retryAfter: response.headers?.['retry-after'], error: response.json['error'], retryable: response.json['retryable'] }).toEqual({
    status,
    retryAfter: expect.stringMatching(/^[1-9]\d*$/),
    error,
    retryable: true,
  });
  expect(String(response.json['message'])).not.toMatch(/injected|Exception|InternalError/);
}

describe('a dependency fault answers a retryable error, and the retry stores every scope exactly once', () => {
  it('KMS throttles GenerateDataKey (through the keyring): 503, then the retry stores all scopes', async () => {
    // Arrange
    const id = await consentedEmployee('f-kms');
    const batch = captureBatch({ kinds: ['keystroke', 'click', 'app-focus'] });
    faults.arm({ match: isCall('ingest-kms', /^GenerateDataKey/), error: () => serviceError('ThrottlingException', 400, 'Rate exceeded') });

    // Act
    const first = await send(ingest.handler, id, batch);
    const retry = await send(ingest.handler, id, batch);
    const again = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-throttled');
    expect(retry.statusCode).toBe(202);
    expect(retry.json['stored']).toEqual({ keystrokes: 2, clicks: 2, 'app-focus': 2 });
    expect(again.json).toEqual({ batchId: batch.batchId, duplicate: true });
    expect(await objectsOf(id, batch.batchId)).toEqual([...ALL_SCOPES]);
    expect(await claimOf(id, batch.batchId)).toMatchObject({ status: { S: 'done' } });
  });

  it('S3 answers 500 to one scope\'s PutObject while the others succeed: 503, then the retry stores every scope once', async () => {
    // Arrange
    const id = await consentedEmployee('f-s3');
    const batch = captureBatch({ kinds: ['keystroke', 'click', 'app-focus'] });
    faults.arm({ match: (c) => isCall('ingest-s3', /^PutObject/)(c) && String(c.input['Key']).includes('/clicks/'), error: () => serviceError('InternalError', 500) });

    // Act
    const first = await send(ingest.handler, id, batch);
    const afterFault = await objectsOf(id, batch.batchId);
    const retry = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-unavailable');
    // The other scopes may already be stored (partial success); clicks is not.
    expect(afterFault).not.toContain('clicks');
    expect(retry.statusCode).toBe(202);
    expect(retry.json['stored']).toEqual({ keystrokes: 2, clicks: 2, 'app-focus': 2 });
    expect(await objectsOf(id, batch.batchId)).toEqual([...ALL_SCOPES]);
  });

  it('DynamoDB fails the ledger read: 503, nothing stored and the claim released, then the retry stores all scopes', async () => {
    // Arrange
    const id = await consentedEmployee('f-ledger');
    const batch = captureBatch({ kinds: ['keystroke', 'click'] });
    faults.arm({ match: isCall('ingest-dynamodb', /^Query/, tables.ledger), error: () => serviceError('InternalServerError', 500) });

    // Act
    const first = await send(ingest.handler, id, batch);
    const objectsAfterFault = await objectsOf(id, batch.batchId);
    const claimAfterFault = await claimOf(id, batch.batchId);
    const retry = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-unavailable');
    expect(objectsAfterFault).toEqual([]);
    expect(claimAfterFault).toBeUndefined();
    expect(retry.statusCode).toBe(202);
    expect(retry.json['stored']).toEqual({ keystrokes: 2, clicks: 2 });
    expect(await objectsOf(id, batch.batchId)).toEqual(['clicks', 'keystrokes']);
  });

  it('DynamoDB throttles the ledger read: 503', async () => {
    // Arrange
    const id = await consentedEmployee('f-ledger-throttle');
    const batch = captureBatch({ kinds: ['click'] });
    faults.arm({ match: isCall('ingest-dynamodb', /^Query/, tables.ledger), error: () => serviceError('ProvisionedThroughputExceededException', 400) });

    // Act
    const first = await send(ingest.handler, id, batch);
    const retry = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-throttled');
    expect(retry.statusCode).toBe(202);
    expect(await objectsOf(id, batch.batchId)).toEqual(['clicks']);
  });

  it('DynamoDB throttles the claim write: 503 before anything is stored, then the retry stores the batch', async () => {
    // Arrange
    const id = await consentedEmployee('f-claim');
    const batch = captureBatch({ kinds: ['app-focus'] });
    faults.arm({ match: isCall('ingest-dynamodb', /^Put/, tables.batches), error: () => serviceError('ThrottlingException', 400) });

    // Act
    const first = await send(ingest.handler, id, batch);
    const objectsAfterFault = await objectsOf(id, batch.batchId);
    const retry = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-throttled');
    expect(objectsAfterFault).toEqual([]);
    expect(retry.statusCode).toBe(202);
    expect(await objectsOf(id, batch.batchId)).toEqual(['app-focus']);
  });

  it('DynamoDB fails the claim completion after the objects were written: 503, then the retry stores each scope once', async () => {
    // Arrange
    const id = await consentedEmployee('f-complete');
    const batch = captureBatch({ kinds: ['keystroke', 'app-focus'] });
    faults.arm({ match: isCall('ingest-dynamodb', /^Update/, tables.batches), error: () => serviceError('InternalServerError', 500) });

    // Act
    const first = await send(ingest.handler, id, batch);
    const claimAfterFault = await claimOf(id, batch.batchId);
    const retry = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-unavailable');
    // The claim was released, so the retry is judged afresh rather than refused as in progress.
    expect(claimAfterFault).toBeUndefined();
    expect(retry.statusCode).toBe(202);
    expect(retry.json['stored']).toEqual({ keystrokes: 2, 'app-focus': 2 });
    expect(await objectsOf(id, batch.batchId)).toEqual(['app-focus', 'keystrokes']);
    expect(await claimOf(id, batch.batchId)).toMatchObject({ status: { S: 'done' } });
  });

  it('DynamoDB completes the claim but the answer is lost: 503, then the retry is a duplicate and nothing is stored twice', async () => {
    // Arrange
    const id = await consentedEmployee('f-complete-lost');
    const batch = captureBatch({ kinds: ['click', 'app-focus'] });
    faults.arm({ match: isCall('ingest-dynamodb', /^Update/, tables.batches), afterResponse: true, error: () => serviceError('InternalServerError', 500) });

    // Act
    const first = await send(ingest.handler, id, batch);
    const retry = await send(ingest.handler, id, batch);

    // Assert
    expect(faults.pending()).toBe(0);
    expectRetryable(first, 503, 'dependency-unavailable');
    expect({ status: retry.statusCode, body: retry.json }).toEqual({ status: 200, body: { batchId: batch.batchId, duplicate: true } });
    expect(await objectsOf(id, batch.batchId)).toEqual(['app-focus', 'clicks']);
    const claim = await claimOf(id, batch.batchId);
    expect(claim?.['status']).toEqual({ S: 'done' });
    expect(claim?.['result']).toBeDefined();
  });

  it('with maxAttempts 3 (as the functions use), the SDK retries a single S3 500 itself: 202 at once', async () => {
    // Arrange
    const id = await consentedEmployee('f-sdk-retry');
    const batch = captureBatch({ kinds: ['click'] });
    const ownFaults = new FaultPlan().arm({ match: isCall('ingest-s3', /^PutObject/), error: () => serviceError('InternalError', 500) });
    const retrying = inProcessIngest(t, { faults: ownFaults, maxAttempts: 3 });

    // Act
    let response: Awaited<ReturnType<typeof send>>;
    try {
      response = await send(retrying.handler, id, batch);
    } finally {
      retrying.destroy();
    }

    // Assert
    expect(ownFaults.pending()).toBe(0);
    expect(ownFaults.calls.filter((c) => c.command.startsWith('PutObject')).map((c) => c.failed)).toEqual([true, false]);
    expect(response.statusCode).toBe(202);
    expect(await objectsOf(id, batch.batchId)).toEqual(['clicks']);
  });
});

// The real SQS workers (purge, key-sync) on Powertools' batch processor, invoked directly with
// crafted batches: they report exactly the failed messages, never throw for a batch that fails
// entirely, and key-sync collapses an employee's jobs into one sync.
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/local-stack.js';

function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'local', ApproximateFirstReceiveTimestamp: '0' },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q',
    awsRegion: 'us-east-1',
  };
}

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const failed = (response: unknown): string[] => (response as SQSBatchResponse).batchItemFailures.map((f) => f.itemIdentifier).sort();

describe('queue workers', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('key-sync reports only the malformed jobs and syncs an employee once per batch', async () => {
    const response = await t.stack.invoke(
      'key-sync',
      batch(
        record('m1', '{"employeeId":"e-sync","sequence":1}'),
        record('m2', 'not json'),
        record('m3', '{"employeeId":"e-sync","sequence":2}'),
        record('m4', '{"employeeId":"no spaces allowed","sequence":1}'),
      ),
    );

    expect(failed(response)).toEqual(['m2', 'm4']);
    const synced = t.logs('key-sync').filter((line) => line.includes('"key policy synced"') && line.includes('"e-sync"'));
    expect(synced).toHaveLength(1);
  });

  it('key-sync answers a batch that fails entirely with every message, rather than throwing', async () => {
    const response = await t.stack.invoke('key-sync', batch(record('x1', '{}'), record('x2', '[')));
    expect(failed(response)).toEqual(['x1', 'x2']);
  });

  it('purge reports a malformed job as failed, so it ends in the dead-letter queue', async () => {
    const response = await t.stack.invoke('purge', batch(record('p1', '{"employeeId":"e-1"}')));
    expect(failed(response)).toEqual(['p1']);
  });

  it('purge takes a revoke-sweep job, and refuses a job of an unknown kind rather than read it as a purge', async () => {
    const response = await t.stack.invoke(
      'purge',
      batch(record('s1', '{"kind":"revoke-sweep","employeeId":"e-nobody","sequence":1}'), record('s2', '{"kind":"erase-everyone","employeeId":"e-nobody","sequence":1}'), record('s3', '{"kind":"revoke-sweep","employeeId":"e-nobody"}')),
    );
    expect(failed(response)).toEqual(['s2', 's3']);
  });

  it('purge succeeds for an employee with nothing to purge', async () => {
    const response = await t.stack.invoke('purge', batch(record('p2', '{"employeeId":"e-nobody","sequence":1}')));
    expect(failed(response)).toEqual([]);
  });
});

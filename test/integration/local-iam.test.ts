// IAM in front of the local S3, DynamoDB and SQS: every role's reach (test/support/role-reach.ts)
// performed through the real SDK clients with each principal's credentials from the stack, then
// authentication failures, presigned URLs, malformed requests and bucket policies.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteItemCommand, DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity, type LocalIdentity } from '../../local/principals.js';
import { loadTemplatePolicies } from '../../local/template-policies.js';
import { LOCAL_RESOURCES } from '../../local/resource-names.js';
import { startLocalS3, type LocalS3 } from '../../local/s3.js';
import { startLocalQueues } from '../../local/queue.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import { ROLE_REACH, targetOf, type ReachRow } from '../support/role-reach.js';
import { NodeSha256 } from '../support/signed-fetch.js';

let t: TestStack;
const { buckets, tables } = LOCAL_RESOURCES;
const SEEDED = {
  [buckets.captures]: ['captures/e-reach/clicks/seed', 'captures/e-reach/clicks/purge-one', 'captures/e-reach/clicks/purge-two', 'captures/e-reach/clicks/admin-one', 'elsewhere/seed'],
  [buckets.exports]: ['exports/e-reach/seed', 'exports/e-reach/purge-three', 'datasets/d-reach/manifest.jsonl'],
};

beforeAll(async () => {
  t = await startTestStack();
  const admin = t.s3('admin');
  for (const [Bucket, keys] of Object.entries(SEEDED)) {
    for (const Key of keys) await admin.send(new PutObjectCommand({ Bucket, Key, Body: 'ciphertext' }));
  }
  await t.dynamodb('admin').send(new PutItemCommand({ TableName: tables.ledger, Item: { pk: { S: 'reach' }, sk: { S: 'state' } } }));
}, 60_000);
afterAll(async () => {
  await t?.close();
});

/** Performs a row's call as its principal; resolves if it was allowed. */
async function perform(r: ReachRow): Promise<unknown> {
  const target = targetOf(r.resource);
  if (target.kind === 'bucket') {
    const s3 = t.s3(r.principal);
    const { bucket: Bucket, key: Key } = target;
    switch (r.action) {
      case 's3:PutObject':
        return s3.send(new PutObjectCommand({ Bucket, Key, Body: 'ciphertext' }));
      case 's3:GetObject':
        return (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body?.transformToString();
      case 's3:HeadObject':
        return s3.send(new HeadObjectCommand({ Bucket, Key }));
      case 's3:DeleteObject':
        return s3.send(new DeleteObjectCommand({ Bucket, Key }));
      case 's3:DeleteObjects':
        return s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key }] } }));
      case 's3:ListBucket':
        return s3.send(new ListObjectsV2Command({ Bucket, ...(r.prefix === undefined ? {} : { Prefix: r.prefix }) }));
    }
  }
  if (target.kind === 'table') {
    const db = t.dynamodb(r.principal);
    const TableName = target.table;
    const Key = { pk: { S: 'reach' }, sk: { S: 'state' } };
    const own = { pk: { S: `reach-${r.principal}` }, sk: { S: 'x' } };
    switch (r.action) {
      case 'dynamodb:GetItem':
        return db.send(new GetItemCommand({ TableName, Key }));
      case 'dynamodb:Query':
        return db.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': { S: 'reach' } } }));
      case 'dynamodb:PutItem':
        return db.send(new PutItemCommand({ TableName, Item: own }));
      case 'dynamodb:UpdateItem':
        return db.send(new UpdateItemCommand({ TableName, Key: own, UpdateExpression: 'SET n = :n', ExpressionAttributeValues: { ':n': { N: '1' } } }));
      case 'dynamodb:DeleteItem':
        return db.send(new DeleteItemCommand({ TableName, Key: own }));
      case 'dynamodb:Scan':
        return db.send(new ScanCommand({ TableName, Limit: 1 }));
      case 'dynamodb:BatchWriteItem':
        return db.send(new BatchWriteItemCommand({ RequestItems: { [TableName]: [{ PutRequest: { Item: own } }] } }));
    }
  }
  if (target.kind === 'queue') {
    const sqs = t.sqs(r.principal);
    const QueueUrl = t.stack.queues.queueUrl(target.queue);
    switch (r.action) {
      case 'sqs:SendMessage':
        // Delayed past the test, so no worker ever runs it.
        return sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"reach":true}', DelaySeconds: 900 }));
      case 'sqs:GetQueueUrl':
        return sqs.send(new GetQueueUrlCommand({ QueueName: target.queue }));
      case 'sqs:GetQueueAttributes':
        return sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    }
  }
  throw new Error(`row ${r.principal} ${r.action} ${r.resource}: no call for it`);
}

/** The error each service answers a denial with, as the SDK surfaces it. */
function deniedShape(r: ReachRow): Record<string, unknown> {
  const target = targetOf(r.resource);
  if (target.kind === 'bucket') {
    // A HEAD answer has no body, so the SDK knows only the status (as against AWS).
    return r.action === 's3:HeadObject' ? { $metadata: expect.objectContaining({ httpStatusCode: 403 }) } : { $metadata: expect.objectContaining({ httpStatusCode: 403 }), name: 'AccessDenied' };
  }
  if (target.kind === 'table') {
    return { name: 'AccessDeniedException', message: expect.stringContaining(`is not authorized to perform: dynamodb:`), $metadata: expect.objectContaining({ httpStatusCode: 400 }) };
  }
  return { Code: 'AccessDenied', $metadata: expect.objectContaining({ httpStatusCode: 403 }) };
}

describe('every role’s reach', () => {
  it.each(ROLE_REACH.map((r) => [`${r.principal} ${r.expect}s ${r.action} on ${r.resource}${r.prefix === undefined ? '' : ` with prefix ${r.prefix}`}`, r] as const))('%s', async (_, r) => {
    const outcome = perform(r);
    if (r.expect === 'allow') await expect(outcome).resolves.toBeDefined();
    else await expect(outcome).rejects.toMatchObject(deniedShape(r));
  });

  it('stores nothing when a PutObject is denied', async () => {
    await expect(t.s3('ingest').send(new PutObjectCommand({ Bucket: buckets.captures, Key: 'elsewhere/denied-put', Body: 'x' }))).rejects.toMatchObject({ name: 'AccessDenied' });

    await expect(t.s3('admin').send(new HeadObjectCommand({ Bucket: buckets.captures, Key: 'elsewhere/denied-put' }))).rejects.toMatchObject({ name: 'NotFound' });
  });

  it('names the principal, action and table ARN in a DynamoDB denial, as AWS does', async () => {
    const error = await t.dynamodb('ingest').send(new ScanCommand({ TableName: tables.ledger })).catch((e: Error) => e);

    const tableArn = `arn:aws:dynamodb:${t.stackFile.region}:${t.stackFile.account}:table/${tables.ledger}`;
    expect((error as Error).message).toBe(
      `User: ${t.stack.identity.principals.ingest.sessionArn} is not authorized to perform: dynamodb:Scan on resource: ${tableArn} because no identity-based policy allows the dynamodb:Scan action`,
    );
  });
});

describe('authentication', () => {
  const wrongSecret = (principal: 'ingest' | 'admin') => ({ accessKeyId: t.stack.identity.principals[principal].accessKeyId, secretAccessKey: 'wrong-secret' });
  const unknownKey = { accessKeyId: 'ASIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' };
  const s3With = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
    new S3Client({ endpoint: t.stack.endpoints.s3, region: t.stackFile.region, credentials, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', maxAttempts: 1 });
  const dynamoWith = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
    new DynamoDBClient({ endpoint: t.stack.endpoints.dynamodb, region: t.stackFile.region, credentials, maxAttempts: 1 });
  const seeded = { Bucket: buckets.captures, Key: 'captures/e-reach/clicks/seed' };

  it('refuses a wrong secret with SignatureDoesNotMatch on S3 and InvalidSignatureException on DynamoDB, even for admin', async () => {
    const s3 = s3With(wrongSecret('admin'));
    const db = dynamoWith(wrongSecret('admin'));

    await expect(s3.send(new GetObjectCommand(seeded))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    await expect(db.send(new GetItemCommand({ TableName: tables.ledger, Key: { pk: { S: 'reach' }, sk: { S: 'state' } } }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
    });
    s3.destroy();
    db.destroy();
  });

  it('refuses an unknown access key with InvalidAccessKeyId on S3 and UnrecognizedClientException on DynamoDB', async () => {
    const s3 = s3With(unknownKey);
    const db = dynamoWith(unknownKey);

    await expect(s3.send(new GetObjectCommand(seeded))).rejects.toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
    await expect(db.send(new ScanCommand({ TableName: tables.ledger }))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    s3.destroy();
    db.destroy();
  });

  it('refuses unsigned requests: S3 answers AccessDenied, DynamoDB MissingAuthenticationToken, SQS 403', async () => {
    const pendingBefore = t.stack.queues.stats(LOCAL_RESOURCES.queues.purge).pending;
    const s3 = await fetch(`${t.stack.endpoints.s3}/${seeded.Bucket}/${seeded.Key}`);
    const db = await fetch(t.stack.endpoints.dynamodb, {
      method: 'POST',
      headers: { 'x-amz-target': 'DynamoDB_20120810.Scan', 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({ TableName: tables.ledger }),
    });
    const sqs = await fetch(t.stack.endpoints.sqs, {
      method: 'POST',
      headers: { 'x-amz-target': 'AmazonSQS.SendMessage', 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({ QueueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.purge), MessageBody: 'x' }),
    });

    expect(s3.status).toBe(403);
    expect(await s3.text()).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>AccessDenied<\/Code><Message>Access Denied<\/Message><RequestId>/);
    expect(db.status).toBe(400);
    expect(await db.json()).toMatchObject({ __type: 'com.amazon.coral.service#MissingAuthenticationTokenException' });
    expect(sqs.status).toBe(403);
    expect(t.stack.queues.stats(LOCAL_RESOURCES.queues.purge).pending).toBe(pendingBefore);
  });

  it('accepts UNSIGNED-PAYLOAD on S3 and stores the bytes sent', async () => {
    const { accessKeyId, secretAccessKey } = t.stack.identity.principals.ingest;
    const url = new URL(`${t.stack.endpoints.s3}/${buckets.captures}/captures/e-reach/clicks/unsigned-payload`);
    const signer = new SignatureV4({ service: 's3', region: t.stackFile.region, credentials: { accessKeyId, secretAccessKey }, sha256: NodeSha256, uriEscapePath: false });
    const signed = await signer.sign({
      method: 'PUT',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      body: 'unsigned-bytes',
    });

    const put = await fetch(url, { method: 'PUT', headers: signed.headers as Record<string, string>, body: 'unsigned-bytes' });

    expect(put.status).toBe(200);
    const got = await t.s3('admin').send(new GetObjectCommand({ Bucket: buckets.captures, Key: 'captures/e-reach/clicks/unsigned-payload' }));
    expect(await got.Body?.transformToString()).toBe('unsigned-bytes');
  });

  it('refuses a signed S3 body altered after signing with XAmzContentSHA256Mismatch', async () => {
    const { accessKeyId, secretAccessKey } = t.stack.identity.principals.ingest;
    const url = new URL(`${t.stack.endpoints.s3}/${buckets.captures}/captures/e-reach/clicks/tampered`);
    const signer = new SignatureV4({ service: 's3', region: t.stackFile.region, credentials: { accessKeyId, secretAccessKey }, sha256: NodeSha256, uriEscapePath: false });
    const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers: { host: url.host }, body: 'signed' });

    const put = await fetch(url, { method: 'PUT', headers: { ...(signed.headers as Record<string, string>), 'x-amz-content-sha256': sha256Hex('signed') }, body: 'altered' });

    expect(put.status).toBe(400);
    expect(await put.text()).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
  });
});

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('presigned URLs', () => {
  const Key = 'captures/e-reach/clicks/seed';
  const presign = (principal: 'admin' | 'ingest', key: string, expiresIn: number, signingDate?: Date) =>
    getSignedUrl(t.s3(principal), new GetObjectCommand({ Bucket: buckets.captures, Key: key }), { expiresIn, ...(signingDate === undefined ? {} : { signingDate }) });

  it('downloads with a presigned GetObject URL until it expires', async () => {
    const url = await presign('admin', Key, 60);

    const response = await fetch(url);

    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ciphertext');
  });

  it('refuses a presigned URL after it expired with AccessDenied "Request has expired"', async () => {
    // Signed two minutes ago for 60 seconds: expired a minute ago, well inside the 5-minute skew.
    const url = await presign('admin', Key, 60, new Date(Date.now() - 120_000));

    const response = await fetch(url);

    expect(response.status).toBe(403);
    const text = await response.text();
    expect(text).toContain('<Code>AccessDenied</Code>');
    expect(text).toContain('<Message>Request has expired</Message>');
  });

  it('refuses a presigned URL whose key was changed with SignatureDoesNotMatch', async () => {
    const url = await presign('admin', Key, 60);

    const response = await fetch(url.replace('/clicks/seed', '/clicks/purge-one'));

    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('refuses a presigned URL whose expiry was stretched with SignatureDoesNotMatch', async () => {
    const url = new URL(await presign('admin', Key, 60, new Date(Date.now() - 120_000)));
    url.searchParams.set('X-Amz-Expires', '3600');

    const response = await fetch(url);

    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('gives no more than its signer may: a URL presigned by ingest cannot read a capture', async () => {
    const url = await presign('ingest', Key, 60);

    const response = await fetch(url);

    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>AccessDenied</Code>');
  });
});

describe('malformed requests', () => {
  it.each([
    ['S3', () => t.stack.endpoints.s3],
    ['DynamoDB', () => t.stack.endpoints.dynamodb],
    ['SQS', () => t.stack.endpoints.sqs],
  ] as const)('%s answers a malformed percent-encoding in the path with a 4xx, not a 500', async (_, endpoint) => {
    const response = await fetch(`${endpoint()}/%zz`, { method: 'POST', body: '{}' });

    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });
});

describe('bucket policies', () => {
  let dir: string;
  let identity: LocalIdentity;
  let s3: LocalS3;
  const bucket = 'policy-test';
  const arn = `arn:aws:s3:::${bucket}`;
  const client = (principal: 'ingest' | 'export' | 'admin') => {
    const { accessKeyId, secretAccessKey } = identity.principals[principal];
    return new S3Client({ endpoint: s3.url, region: identity.region, credentials: { accessKeyId, secretAccessKey }, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', maxAttempts: 1 });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cc-s3-policy-'));
    identity = loadOrCreateIdentity(join(dir, 'principals.json'), await loadTemplatePolicies());
    s3 = await startLocalS3({
      directory: join(dir, 's3'),
      buckets: [bucket],
      identity,
      bucketPolicies: {
        [bucket]: {
          Version: '2012-10-17',
          Statement: [
            // CDK's enforceSSL statements: they must not deny the local endpoints (aws:SecureTransport is "true").
            { Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: [arn, `${arn}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
            { Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: [arn, `${arn}/*`], Condition: { NumericLessThan: { 's3:TlsVersion': '1.2' } } },
            // A grant to a role that has no identity policy for it.
            { Effect: 'Allow', Principal: { AWS: identity.principals.export.arn }, Action: 's3:GetObject', Resource: `${arn}/shared/*` },
            // A deny that overrides AdministratorAccess.
            { Effect: 'Deny', Principal: { AWS: identity.principals.admin.arn }, Action: 's3:DeleteObject', Resource: `${arn}/shared/*` },
          ],
        },
      },
    });
    await client('admin').send(new PutObjectCommand({ Bucket: bucket, Key: 'shared/a', Body: 'shared' }));
  }, 30_000);
  afterAll(async () => {
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a bucket policy that names a role grant what its identity policies do not', async () => {
    const got = await client('export').send(new GetObjectCommand({ Bucket: bucket, Key: 'shared/a' }));

    expect(await got.Body?.transformToString()).toBe('shared');
  });

  it('keeps the grant to its resources: the same role cannot read outside shared/', async () => {
    await client('admin').send(new PutObjectCommand({ Bucket: bucket, Key: 'private/b', Body: 'p' }));

    await expect(client('export').send(new GetObjectCommand({ Bucket: bucket, Key: 'private/b' }))).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('lets an explicit Deny in the bucket policy override AdministratorAccess', async () => {
    await expect(client('admin').send(new DeleteObjectCommand({ Bucket: bucket, Key: 'shared/a' }))).rejects.toMatchObject({ name: 'AccessDenied' });

    const still = await client('admin').send(new HeadObjectCommand({ Bucket: bucket, Key: 'shared/a' }));
    expect(still.$metadata.httpStatusCode).toBe(200);
  });
});

describe('queue consumers', () => {
  it("refuses to deliver to a function whose role may not receive the queue's messages, as Lambda's event source does", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-queue-iam-'));
    const identity = loadOrCreateIdentity(join(dir, 'principals.json'), await loadTemplatePolicies());
    const queues = await startLocalQueues({ queuesDir: join(dir, 'q'), dlqDir: join(dir, 'dlq'), identity, queues: [{ name: LOCAL_RESOURCES.queues.purge }] });
    try {
      expect(() => queues.consume(LOCAL_RESOURCES.queues.purge, async () => undefined, 'ingest')).toThrow(/the ingest role cannot consume .*sqs:ReceiveMessage/);
      expect(() => queues.consume(LOCAL_RESOURCES.queues.purge, async () => undefined, 'purge')).not.toThrow();
    } finally {
      await queues.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

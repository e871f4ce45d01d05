// POST /v1/events against the local stack: what consent and KMS allow is stored as ciphertext,
// the rest is refused; duplicates are answered, not stored twice; the export role can read it back.
import { KMS, CreateGrantCommand, RetireGrantCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { buildClient, CommitmentPolicy, getClient, KmsKeyringNode } from '@aws-crypto/client-node';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchDigest } from '../../lambdas/ingest/batch-claims.js';
import { parseBatch } from '../../lambdas/ingest/schemas.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';

const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const { captures } = LOCAL_RESOURCES.buckets;
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

async function grant(id: string, scopes: string[]): Promise<void> {
  const response = await t.call('POST', '/v1/consent', { token: await t.token(id, 'consent:manage'), body: { scopes, ...NOTICE } });
  expect(response.status).toBe(200);
}

describe('POST /v1/events', () => {
  it('stores consented scopes as ciphertext and refuses the rest, per scope', async () => {
    // Arrange
    await grant('e-ing', ['keystrokes', 'clicks']);
    const batch = captureBatch({ marker: 'MARKER-ing-1' });

    // Act
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-ing', 'capture:write'), body: batch });

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ batchId: batch.batchId, stored: { keystrokes: 2, clicks: 2 }, refused: { 'app-focus': 'scope-not-consented' }, redacted: 0 });
    const keys = await keysUnder('captures/e-ing/');
    expect(keys.sort()).toEqual(
      [expect.stringMatching(new RegExp(`^captures/e-ing/clicks/\\d{4}/\\d{2}/\\d{2}/${batch.batchId}$`)), expect.stringMatching(new RegExp(`^captures/e-ing/keystrokes/\\d{4}/\\d{2}/\\d{2}/${batch.batchId}$`))],
    );
    for (const key of keys) {
      const object = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: key }));
      const bytes = Buffer.from(await object.Body!.transformToByteArray());
      expect(bytes.includes(Buffer.from('MARKER-ing-1'))).toBe(false);
      expect(bytes.includes(Buffer.from('quarterly'))).toBe(false);
    }
  });

  it('answers a repeated batchId with 200 duplicate and stores nothing new', async () => {
    const batch = captureBatch();
    const token = await t.token('e-ing', 'capture:write');
    await t.call('POST', '/v1/events', { token, body: batch });
    const before = await keysUnder('captures/e-ing/');

    const again = await t.call('POST', '/v1/events', { token, body: batch });

    expect(again.status).toBe(200);
    expect(again.body).toEqual({ batchId: batch.batchId, duplicate: true });
    expect(await keysUnder('captures/e-ing/')).toEqual(before);
  });

  it('answers a batchId reused with another body with 409 batch-id-reused, not retryable, and stores nothing of it', async () => {
    // Arrange
    const token = await t.token('e-ing', 'capture:write');
    const first = captureBatch({ kinds: ['click'] });
    const stored = await t.call('POST', '/v1/events', { token, body: first });
    const [key] = (await keysUnder('captures/e-ing/')).filter((k) => k.endsWith(first.batchId));
    const before = await t.s3.send(new HeadObjectCommand({ Bucket: captures, Key: key }));
    const other = captureBatch({ kinds: ['click', 'keystroke'], batchId: first.batchId, perKind: 3 });

    // Act
    const reused = await t.call('POST', '/v1/events', { token, body: other });

    // Assert
    expect(stored.status).toBe(202);
    expect(reused.status).toBe(409);
    expect(reused.body).toEqual({ error: 'batch-id-reused', message: expect.stringContaining('new batchId') });
    expect(reused.headers.get('retry-after')).toBeNull();
    expect((await keysUnder('captures/e-ing/')).filter((k) => k.endsWith(first.batchId))).toEqual([key]);
    const after = await t.s3.send(new HeadObjectCommand({ Bucket: captures, Key: key }));
    expect({ etag: after.ETag, events: after.Metadata?.['events'] }).toEqual({ etag: before.ETag, events: '2' });
  });

  it('answers the same batch re-serialised (keys reordered, ts as ISO instead of epoch ms) as a duplicate', async () => {
    // Arrange
    const token = await t.token('e-ing', 'capture:write');
    const batch = captureBatch({ kinds: ['click'] });
    await t.call('POST', '/v1/events', { token, body: batch });
    const reordered = {
      events: batch.events.map((e) => Object.fromEntries(Object.entries({ ...e, ts: new Date(Number(e['ts'])).toISOString() }).reverse())),
      deviceId: batch.deviceId,
      batchId: batch.batchId,
    };

    // Act
    const again = await t.call('POST', '/v1/events', { token, body: reordered });

    // Assert
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: { batchId: batch.batchId, duplicate: true } });
  });

  it('answers 409 batch-in-progress with Retry-After while the same body is claimed, and batch-id-reused for another body', async () => {
    // Arrange: a live claim, as a concurrent request holds it.
    const token = await t.token('e-ing', 'capture:write');
    const batch = captureBatch({ kinds: ['click'] });
    const parsed = parseBatch(JSON.parse(JSON.stringify(batch)), new Date());
    if (!parsed.ok) throw new Error('the test batch must be valid');
    await t.local.documents('admin').send(
      new PutCommand({
        TableName: LOCAL_RESOURCES.tables.batches,
        Item: { pk: 'e-ing', sk: batch.batchId, status: 'in-progress', bodySha256: batchDigest(parsed.batch), leaseUntil: Date.now() + 60_000 },
      }),
    );

    // Act
    const same = await t.call('POST', '/v1/events', { token, body: batch });
    const other = await t.call('POST', '/v1/events', { token, body: captureBatch({ kinds: ['keystroke'], batchId: batch.batchId }) });

    // Assert
    expect({ status: same.status, error: same.body.error, retryAfter: same.headers.get('retry-after') }).toEqual({ status: 409, error: 'batch-in-progress', retryAfter: '2' });
    expect({ status: other.status, error: other.body.error, retryAfter: other.headers.get('retry-after') }).toEqual({ status: 409, error: 'batch-id-reused', retryAfter: null });
    expect((await keysUnder('captures/e-ing/')).filter((k) => k.endsWith(batch.batchId))).toEqual([]);
  });

  it('stores one copy when two identical requests are in flight', async () => {
    const batch = captureBatch({ kinds: ['click'] });
    const token = await t.token('e-ing', 'capture:write');

    const [a, b] = await Promise.all([t.call('POST', '/v1/events', { token, body: batch }), t.call('POST', '/v1/events', { token, body: batch })]);

    const statuses = [a.status, b.status].sort();
    expect([[200, 202], [202, 409]]).toContainEqual(statuses);
    expect((await keysUnder('captures/e-ing/')).filter((k) => k.endsWith(batch.batchId))).toHaveLength(1);
  });

  it('decrypts, for the export role with a grant, to the redacted JSON Lines', async () => {
    // Arrange
    const batch = captureBatch({ kinds: ['keystroke'], perKind: 1 });
    (batch.events[0] as { text: string }).text = 'card 4111 1111 1111 1111 and mail a.person@example.com';
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-ing', 'capture:write'), body: batch });
    const [key] = (await keysUnder('captures/e-ing/keystrokes/')).filter((k) => k.endsWith(batch.batchId));
    const object = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: key }));
    const ciphertext = Buffer.from(await object.Body!.transformToByteArray());
    const keyArn = (await t.ledger.latestEvent('e-ing'))?.state.keyArn ?? '';
    const { GrantToken } = await t.kms('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.export, RetiringPrincipal: t.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-ing' } } }),
    );
    const { accessKeyId, secretAccessKey } = t.stack.identity.principals.export;
    const keyring = new KmsKeyringNode({
      keyIds: [keyArn],
      clientProvider: getClient(KMS, { endpoint: t.stack.endpoints.kms, region: t.stack.identity.region, credentials: { accessKeyId, secretAccessKey } }),
    });

    // Act
    const { plaintext, messageHeader } = await decrypt(keyring, ciphertext);

    // Assert
    expect(response.body['redacted']).toBe(2);
    expect(messageHeader.encryptionContext).toEqual({ employeeId: 'e-ing', scope: 'keystrokes', batchId: batch.batchId });
    const lines = gunzipSync(plaintext).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.text).toBe('card [REDACTED:card] and mail [REDACTED:email]');
    await t.kms('export').send(new RetireGrantCommand({ GrantToken }));
  });

  it('answers 403 capture-not-permitted during a pause, stores nothing, and accepts the same batch (captured before the pause) after resume', async () => {
    // Arrange: events captured before the pause, delivered during it.
    const manage = await t.token('e-ing', 'consent:manage');
    const token = await t.token('e-ing', 'capture:write');
    const batch = captureBatch({ kinds: ['click'] });
    await t.call('POST', '/v1/consent/pause', { token: manage, body: { minutes: 30 } });

    // Act
    const paused = await t.call('POST', '/v1/events', { token, body: batch });
    await t.call('POST', '/v1/consent/resume', { token: manage });
    const resumed = await t.call('POST', '/v1/events', { token, body: batch });

    // Assert
    expect(paused.status).toBe(403);
    expect(paused.body).toMatchObject({ error: 'capture-not-permitted', refused: { clicks: 'paused' } });
    expect(resumed.status).toBe(202);
    expect(resumed.body['stored']).toEqual({ clicks: 2 });
  });

  it('answers 403 after revoke and for an employee who never consented', async () => {
    const batch = captureBatch({ kinds: ['click'] });

    const never = await t.call('POST', '/v1/events', { token: await t.token('e-never-ing', 'capture:write'), body: batch });

    expect(never.status).toBe(403);
    expect(never.body['refused']).toEqual({ clicks: 'consent-not-active' });
    expect(await keysUnder('captures/e-never-ing/')).toEqual([]);
  });

  it('treats a leading byte-order mark as invalid JSON whatever the content type, as API Gateway passes it through', async () => {
    const token = await t.token('e-ing', 'capture:write');
    const body = `\ufeff${JSON.stringify(captureBatch())}`;

    const asJson = await t.local.request('POST', '/v1/events', { token, body, headers: { 'content-type': 'application/json' } });
    const asBytes = await t.local.request('POST', '/v1/events', { token, body, headers: { 'content-type': 'application/octet-stream' } });

    expect([asJson.status, asBytes.status]).toEqual([400, 400]);
    expect(asJson.json<{ error: string }>().error).toBe('invalid-json');
  });

  it('refuses a consent:manage token: only agents write events', async () => {
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-ing', 'consent:manage'), body: captureBatch() });

    expect(response.status).toBe(403);
  });
});

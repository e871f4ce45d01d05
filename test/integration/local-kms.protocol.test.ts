// The local KMS as a server: authentication, malformed and hostile requests, CloudTrail records,
// key files on disk and restarts. Nothing here may crash it or change its state.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CreateGrantCommand, DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../local/kms/server.js';
import { createEmployeeKey } from '../support/employee-key.js';
import { startTestKms, type TestKms } from '../support/local-kms.js';
import { signedPost } from '../support/signed-fetch.js';

let kms: TestKms;
let keyArn: string;
beforeAll(async () => {
  kms = await startTestKms();
  keyArn = await createEmployeeKey(kms, { employeeId: 'e-proto', status: 'active', scopes: ['clicks'] });
});
afterAll(async () => {
  await kms.close();
});

const ingestCreds = () => kms.identity.principals.ingest;
const post = (target: string, body: string | Buffer, creds: { accessKeyId: string; secretAccessKey: string } = ingestCreds()) =>
  signedPost(kms.url, creds, kms.identity.region, target, body);
const gdkBody = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: { employeeId: 'e-proto', scope: 'clicks', batchId: 'b' }, ...overrides });

describe('authentication', () => {
  it('answers a well-signed request', async () => {
    const response = await post('TrentService.GenerateDataKey', gdkBody());

    expect(response.status).toBe(200);
    expect(response.body['KeyId']).toBe(keyArn);
  });

  it('rejects an unknown access key with UnrecognizedClientException', async () => {
    const response = await post('TrentService.GenerateDataKey', gdkBody(), { accessKeyId: 'ASIAUNKNOWN000000000', secretAccessKey: 'x' });

    expect(response).toMatchObject({ status: 400, body: { __type: 'UnrecognizedClientException' } });
  });

  it('rejects a wrong secret with InvalidSignatureException, through the SDK too', async () => {
    const { accessKeyId } = ingestCreds();
    const client = new KMSClient({ endpoint: kms.url, region: kms.identity.region, credentials: { accessKeyId, secretAccessKey: 'wrong' }, maxAttempts: 1 });

    const error = await client.send(new DescribeKeyCommand({ KeyId: keyArn })).catch((e: Error) => e);

    expect((error as Error).name).toBe('InvalidSignatureException');
    client.destroy();
  });

  it('rejects a signature scoped to another service or region', async () => {
    const { accessKeyId, secretAccessKey } = ingestCreds();
    const otherRegion = new KMSClient({ endpoint: kms.url, region: 'eu-west-1', credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });

    const error = await otherRegion.send(new DescribeKeyCommand({ KeyId: keyArn })).catch((e: Error) => e);

    expect((error as Error).name).toBe('InvalidSignatureException');
    otherRegion.destroy();
  });

  it('rejects an unsigned request with MissingAuthenticationTokenException', async () => {
    const response = await fetch(kms.url, { method: 'POST', headers: { 'x-amz-target': 'TrentService.ListAliases' }, body: '{}' });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { __type: string }).__type).toBe('MissingAuthenticationTokenException');
  });

  it('rejects a body altered after signing', async () => {
    const signedFor = JSON.stringify({ KeyId: keyArn });
    const tampered = JSON.stringify({ KeyId: 'alias/consent-capture/e-other' });

    const response = await signedPost(kms.url, ingestCreds(), kms.identity.region, 'TrentService.DescribeKey', signedFor, tampered);

    expect(response).toMatchObject({ status: 400, body: { __type: 'InvalidSignatureException' } });
  });
});

describe('payload signing', () => {
  const unsigned = { headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } };

  it('refuses x-amz-content-sha256: UNSIGNED-PAYLOAD, which AWS accepts for S3 only', async () => {
    const response = await post('TrentService.GenerateDataKey', gdkBody());
    const refused = await signedPost(kms.url, ingestCreds(), kms.identity.region, 'TrentService.GenerateDataKey', gdkBody(), undefined, unsigned);

    expect(response.status).toBe(200);
    expect(refused).toMatchObject({ status: 400, body: { __type: 'InvalidSignatureException', message: expect.stringContaining('UNSIGNED-PAYLOAD') } });
  });

  it('does not let UNSIGNED-PAYLOAD carry a body swapped after signing', async () => {
    const signedFor = JSON.stringify({ KeyId: keyArn });
    const swapped = gdkBody();

    const response = await signedPost(kms.url, ingestCreds(), kms.identity.region, 'TrentService.GenerateDataKey', signedFor, swapped, unsigned);

    expect(response).toMatchObject({ status: 400, body: { __type: 'InvalidSignatureException' } });
    expect(response.body['Plaintext']).toBeUndefined();
  });
});

describe('requests that fail authentication', () => {
  it('write no trail record: an unsigned request cannot put a name of its choosing into the trail', async () => {
    const marker = `forged-${Date.now()}`;
    const before = kms.trail().length;

    const unsignedResponse = await fetch(kms.url, { method: 'POST', headers: { 'x-amz-target': `TrentService.${marker}`, 'user-agent': marker }, body: '{}' });
    const wrongSecret = await signedPost(kms.url, { accessKeyId: ingestCreds().accessKeyId, secretAccessKey: 'wrong' }, kms.identity.region, `TrentService.ListAliases`, '{}');
    const unknownKey = await signedPost(kms.url, { accessKeyId: 'ASIAFORGEDFORGED0000', secretAccessKey: 'x' }, kms.identity.region, `TrentService.${marker}`, '{}');

    expect([unsignedResponse.status, wrongSecret.status, unknownKey.status]).toEqual([400, 400, 400]);
    const records = kms.trail().slice(before);
    expect(records.filter((r) => JSON.stringify(r).includes(marker) || JSON.stringify(r).includes('FORGED'))).toEqual([]);
    expect(records).toEqual([]);
  });

  it('still records an authenticated call that is denied', async () => {
    const before = kms.trail().length;

    const response = await post('TrentService.GenerateDataKey', gdkBody({ EncryptionContext: { employeeId: 'e-proto', scope: 'keys', batchId: 'b' } }));

    expect(response.body.__type).toBe('AccessDeniedException');
    expect(kms.trail().slice(before)).toEqual([expect.objectContaining({ eventName: 'GenerateDataKey', errorCode: 'AccessDeniedException' })]);
  });
});

describe('malformed requests', () => {
  it.each([
    ['malformed JSON', 'SerializationException', 'TrentService.GenerateDataKey', () => '{"KeyId": '],
    ['a JSON array', 'SerializationException', 'TrentService.GenerateDataKey', () => '[1,2]'],
    ['a JSON string', 'SerializationException', 'TrentService.GenerateDataKey', () => '"x"'],
    ['an unknown operation', 'UnknownOperationException', 'TrentService.MakeCoffee', () => '{}'],
    ['a prototype property as operation', 'UnknownOperationException', 'TrentService.constructor', () => '{}'],
    ['__proto__ as operation', 'UnknownOperationException', 'TrentService.__proto__', () => '{}'],
    ['another service target', 'UnknownOperationException', 'DynamoDB_20120810.ListTables', () => '{}'],
    ['a wrongly typed field', 'SerializationException', 'TrentService.GenerateDataKey', () => JSON.stringify({ KeyId: 42, KeySpec: 'AES_256' })],
    ['a bad key spec', 'ValidationException', 'TrentService.GenerateDataKey', () => gdkBody({ KeySpec: 'AES_512' })],
    ['both KeySpec and NumberOfBytes', 'ValidationException', 'TrentService.GenerateDataKey', () => gdkBody({ NumberOfBytes: 32 })],
    ['NumberOfBytes out of range', 'ValidationException', 'TrentService.GenerateDataKey', () => JSON.stringify({ KeyId: keyArn, NumberOfBytes: 1025 })],
    ['a key id that is not one', 'NotFoundException', 'TrentService.GenerateDataKey', () => gdkBody({ KeyId: 'not a key' })],
    ['an empty key id', 'ValidationException', 'TrentService.GenerateDataKey', () => gdkBody({ KeyId: '' })],
    ['an unknown key', 'NotFoundException', 'TrentService.GenerateDataKey', () => gdkBody({ KeyId: '00000000-0000-4000-8000-000000000000' })],
    ['an unknown alias', 'NotFoundException', 'TrentService.GenerateDataKey', () => gdkBody({ KeyId: 'alias/nope' })],
    ['a non-KMS ARN', 'InvalidArnException', 'TrentService.DescribeKey', () => JSON.stringify({ KeyId: 'arn:aws:s3:::bucket' })],
    ['a ciphertext that is not ours', 'InvalidCiphertextException', 'TrentService.Decrypt', () => JSON.stringify({ CiphertextBlob: Buffer.from('garbage bytes here').toString('base64') })],
    ['a ciphertext that is not base64', 'SerializationException', 'TrentService.Decrypt', () => JSON.stringify({ CiphertextBlob: '***' })],
    ['an encryption context of numbers', 'SerializationException', 'TrentService.GenerateDataKey', () => gdkBody({ EncryptionContext: { a: 1 } })],
    ['a missing key id', 'ValidationException', 'TrentService.GenerateDataKey', () => JSON.stringify({ KeySpec: 'AES_256' })],
  ] satisfies [string, string, string, () => string][])('answers %s with 400 %s', async (_label, type, target, body) => {
    const response = await post(target, body());

    expect(response.status).toBe(400);
    expect(response.body.__type).toBe(type);
    expect(response.body.message).toEqual(expect.any(String));
  });

  it('answers a malformed percent-encoding in the path with a 4xx, not a 500', async () => {
    const response = await signedPost(kms.url, ingestCreds(), kms.identity.region, 'TrentService.ListAliases', '{}', undefined, { path: '/%zz' });

    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.body.__type).toEqual(expect.any(String));
  });

  it('answers an oversized body with 400 ValidationException', async () => {
    const response = await post('TrentService.GenerateDataKey', gdkBody({ Padding: 'x'.repeat(MAX_BODY_BYTES) }));

    expect(response.status).toBe(400);
    expect(response.body.__type).toBe('ValidationException');
  });

  it('survives 300 random bodies for random operations with only 4xx answers and no new keys or aliases', async () => {
    // Arrange
    const keysBefore = kms.kms.store.listKeys().length;
    const aliasesBefore = kms.kms.store.listAliases().length;
    const operations = ['GenerateDataKey', 'Decrypt', 'Encrypt', 'CreateGrant', 'PutKeyPolicy', 'CreateAlias', 'TagResource', 'ScheduleKeyDeletion', 'ListGrants', 'UpdateKeyDescription'];
    const statuses: number[] = [];

    // Act
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations), fc.jsonValue({ maxDepth: 4 }), fc.boolean(), async (op, value, withKey) => {
        const body = withKey && value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value, KeyId: keyArn } : value;
        const response = await post(`TrentService.${op}`, JSON.stringify(body));
        statuses.push(response.status);
        return response.status >= 400 && response.status < 500 && typeof response.body.__type === 'string';
      }),
      { numRuns: 300, seed: 4242 },
    );

    // Assert
    expect(statuses).toHaveLength(300);
    expect(kms.kms.store.listKeys()).toHaveLength(keysBefore);
    expect(kms.kms.store.listAliases()).toHaveLength(aliasesBefore);
    expect((await post('TrentService.GenerateDataKey', gdkBody())).status).toBe(200);
  });
});

describe('CloudTrail-shaped records', () => {
  it('records allowed and denied calls with identity, key, context and error', async () => {
    // Arrange
    const marker = `b-trail-${Date.now()}`;
    const ingest = kms.client('ingest');
    await ingest.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: { employeeId: 'e-proto', scope: 'clicks', batchId: marker } }));
    await ingest
      .send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: { employeeId: 'e-proto', scope: 'keystrokes', batchId: marker } }))
      .catch(() => undefined);

    // Act
    const records = kms.trail().filter((r) => JSON.stringify(r.requestParameters).includes(marker));

    // Assert
    expect(records).toHaveLength(2);
    const [allowed, denied] = records;
    expect(allowed).toMatchObject({
      eventSource: 'kms.amazonaws.com',
      eventName: 'GenerateDataKey',
      userIdentity: { type: 'AssumedRole', sessionContext: { sessionIssuer: { arn: kms.roles.ingest } } },
      requestParameters: { keyId: keyArn, encryptionContext: { employeeId: 'e-proto', scope: 'clicks', batchId: marker } },
      resources: [{ ARN: keyArn }],
    });
    expect(allowed?.errorCode).toBeUndefined();
    expect(denied).toMatchObject({ eventName: 'GenerateDataKey', errorCode: 'AccessDeniedException', resources: [{ ARN: keyArn }] });
    expect(denied?.errorMessage).toContain(kms.roles.ingest.split('/')[1]);
    expect(new Set(records.map((r) => r.eventID)).size).toBe(2);
  });

  it('stamps records with the adjustable clock', async () => {
    kms.clock.advance(3 * 86_400_000);
    try {
      await kms.client('steward').send(new DescribeKeyCommand({ KeyId: keyArn }));
      const last = kms.trail().at(-1);
      expect(Math.abs(Date.parse(last?.eventTime ?? '') - kms.clock.now().getTime())).toBeLessThan(5_000);
    } finally {
      kms.clock.reset();
    }
  });

  it('never holds a plaintext data key or key material', async () => {
    // Arrange
    const result = await kms.client('ingest').send(
      new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: { employeeId: 'e-proto', scope: 'clicks', batchId: 'b-secret' } }),
    );
    const plaintextB64 = Buffer.from(result.Plaintext ?? []).toString('base64');
    const keyFile = readdirSync(join(kms.localDir, 'kms', 'keys'))[0] ?? '';
    const material = (JSON.parse(readFileSync(join(kms.localDir, 'kms', 'keys', keyFile), 'utf8')) as { materials: string[] }).materials[0] ?? '';

    // Act
    const trailText = readdirSync(join(kms.localDir, 'cloudtrail'))
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => readFileSync(join(kms.localDir, 'cloudtrail', f), 'utf8'))
      .join('');

    // Assert
    expect(plaintextB64).toHaveLength(44);
    expect(trailText).not.toContain(plaintextB64);
    expect(material).toHaveLength(44);
    expect(trailText).not.toContain(material);
  });
});

describe('state on disk', () => {
  it('keeps key files readable by the owner only', () => {
    const dir = join(kms.localDir, 'kms', 'keys');
    const modes = readdirSync(dir).map((f) => statSync(join(dir, f)).mode & 0o777);

    expect(modes.length).toBeGreaterThan(0);
    expect(new Set(modes)).toEqual(new Set([0o600]));
    expect(statSync(join(kms.localDir, 'kms')).mode & 0o777).toBe(0o700);
  });

  it('survives a restart: aliases resolve and old ciphertexts decrypt', async () => {
    // Arrange
    const restartable = await startTestKms();
    const arn = await createEmployeeKey(restartable, { employeeId: 'e-restart', status: 'active', scopes: ['clicks'] });
    const ctx = { employeeId: 'e-restart', scope: 'clicks', batchId: 'b' };
    const generated = await restartable.client('ingest').send(new GenerateDataKeyCommand({ KeyId: arn, KeySpec: 'AES_256', EncryptionContext: ctx }));
    await restartable.client('steward').send(
      new CreateGrantCommand({ KeyId: arn, GranteePrincipal: restartable.roles.export, RetiringPrincipal: restartable.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-restart' } } }),
    );
    await restartable.close({ keepFiles: true });

    // Act
    const again = await startTestKms({ localDir: restartable.localDir });
    try {
      const aliases = await again.client('auditor').send(new ListAliasesCommand({}));
      const decrypted = await again.client('export').send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: ctx }));
      const byAdmin = await again
        .client('admin')
        .send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: ctx }))
        .catch((e: Error) => e.name);

      // Assert: same principals, same alias, same data key, and the key policy still binds.
      expect(again.identity.account).toBe(restartable.identity.account);
      expect(aliases.Aliases?.map((a) => a.AliasName)).toContain('alias/consent-capture/e-restart');
      expect(Buffer.from(decrypted.Plaintext ?? []).equals(Buffer.from(generated.Plaintext ?? []))).toBe(true);
      expect(byAdmin).toBe('AccessDeniedException');
    } finally {
      await again.close();
    }
  });
});

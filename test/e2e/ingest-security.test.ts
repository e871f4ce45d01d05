// POST /v1/events against the local stack, as an attacker or a careless agent would use it:
// - invariant 3: a planted marker never lands in any file of the stack, table item, log line or
//   CloudTrail record, in any encoding;
// - invariant 5: A's capture:write token never writes under B's prefix nor makes KMS see B's id;
// - invariant 6: thousands of malformed bodies all get a 4xx, the stack keeps answering, and
//   nothing is written.
import { randomInt } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildClient, CommitmentPolicy, getClient, KmsKeyringNode } from '@aws-crypto/client-node';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateGrantCommand, KMS, RetireGrantCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactText } from '../../lambdas/ingest/redaction.js';
import { MAX_BODY_BYTES, MAX_EVENTS } from '../../lambdas/ingest/schemas.js';
import { ID_PATTERN } from '../../lambdas/shared/ids.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';
import type { TrailRecord } from '../support/local-kms.js';
import { filesUnder, findMarker, scanTexts, scanTree } from '../support/plaintext-scan.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const { captures } = LOCAL_RESOURCES.buckets;
const ALL_SCOPES = ['keystrokes', 'clicks', 'app-focus'];

const SEED = fastCheckSeed(20_261_205);

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

async function grant(employeeId: string, scopes: string[]): Promise<void> {
  const response = await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes, ...NOTICE } });
  expect(response.status, `grant for ${employeeId}`).toBe(200);
}

async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key ?? '');
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}

async function tableItems(table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, never> | undefined;
  const db = t.local.dynamodb('admin');
  do {
    const page = await db.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }));
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey !== undefined);
  return items;
}

/** Writes are counted where ingest writes: objects under captures/ and items of the batches table. */
async function writeCounts(): Promise<{ objects: number; batches: number }> {
  return { objects: (await listKeys('captures/')).length, batches: (await tableItems(LOCAL_RESOURCES.tables.batches)).length };
}

function post(token: string, body: unknown, headers: Record<string, string> = {}, path = '/v1/events') {
  return t.local.request('POST', path, {
    token,
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A request exactly as written: fetch would normalise `..` and `//` in the path. */
function rawRequest(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(t.local.api);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: Number(url.port), method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function ingestRoleDataKeyCalls(records: readonly TrailRecord[]): TrailRecord[] {
  return records.filter((r) => r.eventName === 'GenerateDataKey' && r.userIdentity.sessionContext?.sessionIssuer.arn === t.roles.ingest);
}

function contextOf(record: TrailRecord): Record<string, string> {
  return (record.requestParameters?.['encryptionContext'] ?? {}) as Record<string, string>;
}

// ---------------------------------------------------------------------------------------------

describe('no plaintext at rest or in logs (invariant 3)', () => {
  it('the scanner finds a planted marker raw, as UTF-16, hex, base64 at any alignment, and gzip-compressed', () => {
    // Arrange: control files in the very tree the real scan walks, removed before it runs
    const marker = `CONTROLCANARY${randomInt(100_000_000, 999_999_999)}`;
    const dir = join(t.local.localDir, 'scanner-control');
    mkdirSync(join(dir, 'nested', 'deeper'), { recursive: true });
    const plants: Record<string, Buffer> = {
      'raw.bin': Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(`..${marker}..`)]),
      'nested/utf16.txt': Buffer.from(`x${marker}y`, 'utf16le'),
      'nested/deeper/hex.txt': Buffer.from(`id=${Buffer.from(marker).toString('hex')};`),
      'b64-0.txt': Buffer.from(Buffer.from(`${marker}tail`).toString('base64')),
      'b64-1.txt': Buffer.from(Buffer.from(`a${marker}tail`).toString('base64')),
      'b64-2.txt': Buffer.from(Buffer.from(`ab${marker}`).toString('base64url')),
      'compressed.gz': gzipSync(Buffer.from(`{"text":"${marker}"}`)),
      'clean.txt': Buffer.from(marker.slice(0, -1)),
    };
    for (const [name, bytes] of Object.entries(plants)) writeFileSync(join(dir, name), bytes);

    // Act
    let scan: ReturnType<typeof scanTree>;
    try {
      scan = scanTree(dir, marker);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // Assert
    const found = Object.fromEntries(scan.hits.map((h) => [h.where.slice(dir.length + 1), h.form]));
    expect(found).toEqual({
      'raw.bin': 'utf8',
      'nested/utf16.txt': 'utf16le',
      'nested/deeper/hex.txt': 'hex',
      'b64-0.txt': 'base64@0',
      'b64-1.txt': 'base64@1',
      // The URL alphabet differs only in + and /, which this marker's encoding may not contain.
      'b64-2.txt': expect.stringMatching(/^base64(url)?@2$/),
      'compressed.gz': 'gzip:utf8',
    });
    expect(scanTexts([{ where: 'a log line', text: `{"level":"INFO","text":"${marker}"}` }], marker)).toEqual([{ where: 'a log line', form: 'utf8' }]);
  });

  it('finds no marker in any file, table item, log line or trail record after stored, refused, paused, rejected, duplicate and erased batches', async () => {
    // Arrange: a marker redaction keeps (so it does reach encryption), planted in every text and title
    const marker = `PLAINCANARY${randomInt(100_000_000, 999_999_999)}`;
    expect(redactText(`line ${marker}`).text).toBe(`line ${marker}`);
    await grant('np-a', ['keystrokes', 'app-focus']);
    await grant('np-c', ALL_SCOPES);
    await grant('np-d', ALL_SCOPES);
    const pause = await t.call('POST', '/v1/consent/pause', { token: await t.token('np-c', 'consent:manage'), body: { minutes: 60 } });
    expect(pause.status).toBe(200);
    const agent = (id: string) => t.token(id, 'capture:write');
    const stored = [captureBatch({ marker }), captureBatch({ marker, perKind: 5 }), captureBatch({ marker, kinds: ['keystroke'] })];
    const secure = captureBatch({ marker, kinds: ['keystroke'], perKind: 1 });
    (secure.events[0] as Record<string, unknown>)['secureField'] = true;
    const unknownField = captureBatch({ marker });
    (unknownField.events[0] as Record<string, unknown>)['note'] = marker;
    const tooLong = captureBatch({ marker, kinds: ['keystroke'], perKind: 1 });
    (tooLong.events[0] as Record<string, unknown>)['text'] = `${marker} `.repeat(400);
    const oversized = captureBatch({ marker, kinds: ['keystroke'], perKind: 1 });
    (oversized.events[0] as Record<string, unknown>)['text'] = `${marker} `.repeat(60_000);

    // Act
    const answers = {
      stored: await Promise.all(stored.map(async (b) => (await post(await agent('np-a'), b)).status)),
      duplicate: (await post(await agent('np-a'), stored[0])).status,
      secureOnly: (await post(await agent('np-a'), secure)).status,
      neverConsented: (await post(await agent('np-b'), captureBatch({ marker }))).status,
      paused: (await post(await agent('np-c'), captureBatch({ marker }))).status,
      erasedLater: (await post(await agent('np-d'), captureBatch({ marker }))).status,
      unknownField: (await post(await agent('np-a'), unknownField)).status,
      tooLong: (await post(await agent('np-a'), tooLong)).status,
      oversized: (await post(await agent('np-a'), oversized)).status,
    };
    const erase = await t.call('POST', '/v1/consent/revoke', { token: await t.token('np-d', 'consent:manage'), body: { erase: true } });
    await pollUntil(async () => (await t.ledger.latestEvent('np-d'))?.state.status === 'purged', { what: 'the purge of np-d', timeoutMs: 20_000 });
    const npaKeys = await listKeys('captures/np-a/');

    // Assert: the batches went where expected, so the scan below looks at real ciphertext
    expect(answers).toEqual({ stored: [202, 202, 202], duplicate: 200, secureOnly: 202, neverConsented: 403, paused: 403, erasedLater: 202, unknownField: 400, tooLong: 400, oversized: 413 });
    expect(erase.status).toBe(200);
    // 2 + 2 + 1 objects; the secure-field batch dropped its only event.
    expect(npaKeys.length).toBe(5);
    // The marker did reach encryption: the export role, with a grant, decrypts it back.
    expect(await decryptedContains(npaKeys[0] ?? '', 'np-a', marker)).toBe(true);

    // Assert: nowhere at rest, in any encoding
    const files = scanTree(t.local.localDir, marker);
    expect(files.files).toBeGreaterThan(10);
    expect(filesUnder(t.local.localDir).filter((f) => f.includes('np-a')).length).toBeGreaterThanOrEqual(5);
    expect(files.hits).toEqual([]);
    // LevelDB may compress its tables, so the tables are also read item by item.
    const items = [...(await tableItems(LOCAL_RESOURCES.tables.ledger)), ...(await tableItems(LOCAL_RESOURCES.tables.batches))];
    expect(items.length).toBeGreaterThan(0);
    expect(scanTexts(items.map((item, i) => ({ where: `item ${i}`, text: JSON.stringify(item) })), marker)).toEqual([]);
    // Nor in any log line, stack note or trail record.
    const logs = t.local.logs();
    expect(logs.some((l) => l.includes('batch processed'))).toBe(true);
    expect(scanTexts(logs.map((text, i) => ({ where: `log line ${i}`, text })), marker)).toEqual([]);
    expect(scanTexts(t.local.notes().map((text, i) => ({ where: `note ${i}`, text })), marker)).toEqual([]);
    const trail = t.local.trail();
    expect(ingestRoleDataKeyCalls(trail).length).toBeGreaterThan(0);
    expect(scanTexts(trail.map((r, i) => ({ where: `trail record ${i} (${r.eventName})`, text: JSON.stringify(r) })), marker)).toEqual([]);
  }, 60_000);
});

async function decryptedContains(key: string, employeeId: string, marker: string): Promise<boolean> {
  const object = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: key }));
  const ciphertext = Buffer.from(await object.Body!.transformToByteArray());
  expect(findMarker(ciphertext, marker)).toBeUndefined();
  const keyArn = (await t.ledger.latestEvent(employeeId))?.state.keyArn ?? '';
  const { GrantToken } = await t.kms('steward').send(
    new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.export, RetiringPrincipal: t.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId } } }),
  );
  try {
    const { accessKeyId, secretAccessKey } = t.stack.identity.principals.export;
    const keyring = new KmsKeyringNode({
      keyIds: [keyArn],
      clientProvider: getClient(KMS, { endpoint: t.stack.endpoints.kms, region: t.stack.identity.region, credentials: { accessKeyId, secretAccessKey } }),
    });
    const { plaintext } = await decrypt(keyring, ciphertext);
    return gunzipSync(plaintext).toString('utf8').includes(marker);
  } finally {
    await t.kms('export').send(new RetireGrantCommand({ GrantToken }));
  }
}

// ---------------------------------------------------------------------------------------------

describe("employee A's capture:write token against employee B (invariant 5)", () => {
  const A = 'e-sa';
  const B = 'e-sb';
  let trailStart = 0;
  let keyOfA = '';
  let keyOfB = '';
  beforeAll(async () => {
    // Both consented to everything: a write for B would succeed if A's token could ask for one.
    await grant(A, ALL_SCOPES);
    await grant(B, ALL_SCOPES);
    keyOfA = (await t.ledger.latestEvent(A))?.state.keyArn ?? '';
    keyOfB = (await t.ledger.latestEvent(B))?.state.keyArn ?? '';
    trailStart = t.local.trail().length;
  });

  /** Since this describe began: nothing under B's prefix, B's ledger untouched, KMS never asked for B. */
  async function expectNothingOfB(): Promise<void> {
    expect(await listKeys(`captures/${B}/`)).toEqual([]);
    expect((await t.ledger.latestEvent(B))?.state).toMatchObject({ status: 'active', sequence: 1 });
    const since = t.local.trail().slice(trailStart);
    for (const record of ingestRoleDataKeyCalls(since)) {
      expect(contextOf(record).employeeId).toBe(A);
      expect(record.resources.map((r) => r.ARN)).toEqual([keyOfA]);
    }
    const touchingB = since.filter((r) => r.userIdentity.sessionContext?.sessionIssuer.arn === t.roles.ingest && JSON.stringify(r).includes(keyOfB.split('/')[1] ?? keyOfB));
    expect(touchingB).toEqual([]);
  }

  it('refuses with 400 every body that names B: as a field, a batchId or deviceId path, or inside an event', async () => {
    // Arrange
    const token = await t.token(A, 'capture:write');
    const base = () => captureBatch({ kinds: ['click'], perKind: 1 });
    const bodies: Record<string, unknown>[] = [
      { ...base(), employeeId: B },
      { ...base(), sub: B },
      { ...base(), employee: { id: B } },
      { ...base(), batchId: `../${B}` },
      { ...base(), batchId: `../../captures/${B}/clicks/2026/01/01/x` },
      { ...base(), batchId: `${B}/x` },
      { ...base(), batchId: `%2e%2e%2f${B}` },
      { ...base(), batchId: `${B}\u0000` },
      { ...base(), deviceId: `../${B}` },
      { ...base(), events: [{ ...base().events[0], employeeId: B }] },
    ];

    // Act
    const answers = await Promise.all(bodies.map((b) => post(token, b)));

    // Assert
    expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 400));
    await expectNothingOfB();
  });

  it("stores under A's prefix only, whatever headers, query strings, extra claims or B-looking ids say", async () => {
    // Arrange
    const token = await t.token(A, 'capture:write');
    const claimsToken = await t.stack.issuer.mint({
      subject: A,
      scope: 'capture:write',
      ttlSeconds: 300,
      claims: { employeeId: B, 'custom:employeeId': B, username: B, email: `${B}@example.com`, act: { sub: B } },
    });
    const batch = () => captureBatch({ kinds: ['click', 'keystroke'], perKind: 1 });
    const withApp = batch();
    (withApp.events[0] as Record<string, unknown>)['app'] = `../${B}`;
    const attempts: { token: string; body: ReturnType<typeof batch>; headers?: Record<string, string>; path?: string }[] = [
      { token, body: batch(), headers: { 'x-employee-id': B, 'x-amzn-oidc-identity': B, 'x-forwarded-user': B, 'x-amz-meta-employeeid': B } },
      { token, body: batch(), path: `/v1/events?employeeId=${B}&sub=${B}` },
      { token, body: { ...batch(), batchId: B } },
      { token, body: { ...batch(), deviceId: B } },
      { token, body: withApp },
      { token: claimsToken, body: batch() },
    ];

    // Act
    const answers = await Promise.all(attempts.map((a) => post(a.token, a.body, a.headers ?? {}, a.path)));

    // Assert
    expect(answers.map((a) => a.status)).toEqual(attempts.map(() => 202));
    const keysOfA = await listKeys(`captures/${A}/`);
    for (const { body } of attempts) {
      expect(keysOfA.filter((k) => k.endsWith(`/${body.batchId}`)), `batch ${body.batchId}`).toHaveLength(2);
    }
    await expectNothingOfB();
  });

  it('refuses a token whose subject is a path or names two employees', async () => {
    // Arrange
    const subjects = [`../${B}`, `${A}/../${B}`, `${A} ${B}`, `${B}/`];
    const tokens = await Promise.all(subjects.map((s) => t.token(s, 'capture:write')));

    // Act
    const answers = await Promise.all(tokens.map((token) => post(token, captureBatch())));

    // Assert
    expect(answers.map((a) => a.status)).toEqual(subjects.map(() => 403));
    expect(answers.map((a) => a.json()['error'])).toEqual(subjects.map(() => 'invalid-employee-id'));
    expect(await listKeys('captures/..')).toEqual([]);
    await expectNothingOfB();
  });

  it("reaches no other route or employee through path tricks", async () => {
    // Arrange
    const token = await t.token(A, 'capture:write');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const tricks: [string, string, number][] = [
      ['POST', `/v1/events/../employees/${B}/offboard`, 404],
      ['POST', `/v1/employees/${B}/offboard`, 403],
      ['POST', `/v1/employees/%2e%2e%2f${B}/offboard`, 403],
      ['POST', `/v1/employees/${B}/../../events`, 404],
      ['POST', `/v1/events/${B}`, 404],
      ['POST', `/v1/events%2f..%2f${B}`, 404],
      ['POST', '//v1/events', 404],
      ['POST', '/v1/events/', 404],
      ['POST', '/v1/./events', 404],
      ['POST', '/V1/EVENTS', 404],
      ['PUT', '/v1/events', 405],
      ['POST', `/v1/consent/pause`, 403],
      ['POST', `/v1/consent/revoke`, 403],
    ];

    // Act
    const answers = await Promise.all(tricks.map(([method, path]) => rawRequest(method, path, headers, JSON.stringify({ ...captureBatch(), minutes: 5, erase: true }))));
    const state = await rawRequest('GET', `/v1/consent?employeeId=${B}`, headers);

    // Assert
    expect(answers.map((a, i) => `${tricks[i]?.[0]} ${tricks[i]?.[1]} → ${a.status}`)).toEqual(tricks.map(([m, p, s]) => `${m} ${p} → ${s}`));
    expect(state.status).toBe(200);
    expect(JSON.parse(state.text)).toMatchObject({ employeeId: A });
    await expectNothingOfB();
  });

  it("made KMS see only A's employeeId and key, for every data key the ingest role asked for", async () => {
    // Arrange
    const token = await t.token(A, 'capture:write');
    const batch = captureBatch();

    // Act
    const response = await post(token, batch);

    // Assert
    expect(response.status).toBe(202);
    const calls = ingestRoleDataKeyCalls(t.local.trail().slice(trailStart));
    expect(calls.length).toBeGreaterThanOrEqual(3);
    expect(calls.filter((c) => contextOf(c).batchId === batch.batchId).map((c) => contextOf(c)).sort((x, y) => (x.scope ?? '').localeCompare(y.scope ?? ''))).toEqual(
      ['app-focus', 'clicks', 'keystrokes'].map((scope) => ({ employeeId: A, scope, batchId: batch.batchId })),
    );
    await expectNothingOfB();
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing: malformed bodies through the gateway

interface Case {
  readonly label: string;
  readonly body: string | Buffer;
  readonly contentType?: string;
}

const DAY = 24 * 60 * 60 * 1000;
const MINUTE = 60 * 1000;
const KINDS = ['keystroke', 'click', 'app-focus'] as const;
const TOP_KEYS = ['batchId', 'deviceId', 'events'];

const validId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const validBatch = fc
  .record({ batchId: validId, kinds: fc.subarray([...KINDS], { minLength: 1 }), perKind: fc.integer({ min: 1, max: 3 }) })
  .map(({ batchId, kinds, perKind }) => captureBatch({ batchId: `fz-${batchId}`.slice(0, 64), kinds, perKind }));

const invalidIdString = fc.oneof(
  fc.constantFrom('', '../e-sb', 'a'.repeat(65), 'e sb', 'e/sb', 'e.sb', 'é', '\u0000', 'e-sb\n', '\u200b', 'ｅ-sb', 'e-sb\u202e', '\ud800', '💥', '%00', 'e\\sb'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }).filter((s) => !ID_PATTERN.test(s)),
);
const nonString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);
const pollutionValue = fc.constantFrom<unknown>({ polluted: true }, { prototype: { polluted: true } }, { __proto__: null }, { constructor: { prototype: { polluted: 1 } } }, 'polluted', 1);
const anyValue = fc.oneof(nonString, fc.string({ maxLength: 20 }), pollutionValue);
const unknownKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'employeeId', 'sub', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'BatchId', 'batchid', ' batchId', 'batchId\u0000', 'events ', ''),
  fc.string({ maxLength: 12 }),
);

/** The JSON text with one more key first: own keys such as `__proto__` survive only this way. */
function withKey(json: string, key: string, valueJson: string): string {
  return `{${JSON.stringify(key)}:${valueJson},${json.slice(1)}`;
}

const now = () => Date.now();
const badTs = fc.oneof(
  fc.integer({ min: 8, max: 3650 }).map((days) => now() - days * DAY),
  fc.integer({ min: 10, max: 525_600 }).map((minutes) => now() + minutes * MINUTE),
  fc.constant(null).map(() => now() + 0.5),
  fc.constantFrom<unknown>('2026-11-26T12:00:00', '2026-11-26', 'yesterday', '', 'NaN', '1e3', '2019-02-30T00:00:00Z', '２０２６-11-26T12:00:00Z', null, true, [], {}, 1e21, -1, 9_007_199_254_740_993),
  fc.constant(null).map(() => String(now())),
  fc.constant(null).map(() => ` ${new Date(now()).toISOString()}`),
  fc.constant(null).map(() => new Date(now()).toISOString().replace('Z', '+25:00')),
);
const invalidText = fc.oneof(
  fc.integer({ min: 4_097, max: 20_000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom<unknown>('', '\ud800', 'abc\udfff', '\udc00\ud800', null, 5, ['text'], { text: 'x' }),
);
/** A field set to a value that is wrong for every event kind: absent from its schema or out of its range. */
const badField = fc.oneof(
  fc.record({ field: fc.constant('kind'), value: fc.constantFrom<unknown>('Keystroke', 'mouse', '', 'click ', 'keystrokes', 'app_focus', 5, null) }),
  fc.record({ field: fc.constant('ts'), value: badTs }),
  fc.record({ field: fc.constant('text'), value: invalidText }),
  fc.record({ field: fc.constant('app'), value: fc.constantFrom<unknown>('', 'a'.repeat(257), null, 7, '\ud83d') }),
  fc.record({ field: fc.constant('title'), value: fc.constantFrom<unknown>('t'.repeat(1_025), null, false, '\udbff') }),
  fc.record({ field: fc.constantFrom('x', 'y'), value: fc.constantFrom<unknown>(1.5, 100_001, -100_001, '5', null, 1e300) }),
  fc.record({ field: fc.constant('button'), value: fc.constantFrom<unknown>('LEFT', 'primary', 1, null, '') }),
  fc.record({ field: fc.constant('secureField'), value: fc.constantFrom<unknown>('true', 1, null, 0) }),
);
const REQUIRED: Record<string, string[]> = { keystroke: ['kind', 'ts', 'text'], click: ['kind', 'ts', 'x', 'y', 'button'], 'app-focus': ['kind', 'ts', 'app'] };

function deep(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function eventsOf(batch: ReturnType<typeof captureBatch>): Record<string, unknown>[] {
  return batch.events;
}

const malformed: fc.Arbitrary<Case> = fc.oneof(
  // Not an object at all, or not JSON.
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.boolean(), fc.array(fc.jsonValue(), { maxLength: 3 })).map((v) => ({ label: 'not an object', body: JSON.stringify(v) })) },
  {
    weight: 2,
    arbitrary: fc.tuple(validBatch, fc.nat()).map(([b, cut]) => {
      const json = JSON.stringify(b);
      return { label: 'truncated JSON', body: json.slice(0, cut % json.length) };
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      // Not a leading BOM: RFC 8259 lets a parser ignore it, and the local gateway's UTF-8 decoder drops it.
      .tuple(validBatch, fc.constantFrom<(s: string) => string>((s) => `\ufeff\ufeff${s}`, (s) => s.replace(/}$/, ',}'), (s) => s.replace(/"/g, "'"), (s) => `${s}/* c */`, (s) => s.replace(/:(\d+)/, ':NaN'), () => 'undefined', () => ''))
      .map(([b, edit]) => ({ label: 'invalid JSON', body: edit(JSON.stringify(b)) })),
  },
  // Top-level fields: wrong type, invalid id, missing, or extra (prototype keys included).
  {
    weight: 3,
    arbitrary: fc.tuple(validBatch, fc.constantFrom('batchId', 'deviceId'), fc.oneof(nonString, invalidIdString)).map(([b, field, value]) => ({ label: `bad ${field}`, body: JSON.stringify({ ...b, [field]: value }) })),
  },
  { weight: 1, arbitrary: fc.tuple(validBatch, fc.constantFrom(...TOP_KEYS)).map(([b, field]) => ({ label: `missing ${field}`, body: JSON.stringify({ ...b, [field]: undefined }) })) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(validBatch, unknownKey.filter((k) => !TOP_KEYS.includes(k)), anyValue)
      .map(([b, key, value]) => ({ label: `extra key ${JSON.stringify(key).slice(0, 20)}`, body: withKey(JSON.stringify(b), key, JSON.stringify(value)) })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(validBatch, fc.oneof(nonString.filter((v) => !Array.isArray(v)), fc.constant([]), fc.string())).map(([b, events]) => ({ label: 'bad events', body: JSON.stringify({ ...b, events }) })),
  },
  // One event wrong: a field, a missing field, an extra key, not an object.
  {
    weight: 6,
    arbitrary: fc.tuple(validBatch, fc.nat(), badField).map(([b, i, { field, value }]) => {
      const events = eventsOf(b);
      const at = i % events.length;
      events[at] = { ...events[at], [field]: value };
      return { label: `event ${field}`, body: JSON.stringify(b) };
    }),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(validBatch, fc.nat(), fc.nat()).map(([b, i, j]) => {
      const events = eventsOf(b);
      const event = { ...events[i % events.length] };
      const required = REQUIRED[String(event['kind'])] ?? ['kind'];
      const field = required[j % required.length] ?? 'kind';
      delete event[field];
      events[i % events.length] = event;
      return { label: `event without ${field}`, body: JSON.stringify(b) };
    }),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(validBatch, fc.nat(), unknownKey.filter((k) => !['kind', 'ts', 'text', 'app', 'secureField', 'x', 'y', 'button', 'title'].includes(k)), anyValue).map(([b, i, key, value]) => {
      const events = eventsOf(b);
      // Spliced in as JSON text: an own `__proto__` key survives only this way. Events are unique (ts, n).
      const eventJson = JSON.stringify(events[i % events.length]);
      const body = JSON.stringify(b).replace(eventJson, () => withKey(eventJson, key, JSON.stringify(value)));
      return { label: `event extra key ${JSON.stringify(key).slice(0, 20)}`, body };
    }),
  },
  { weight: 1, arbitrary: fc.tuple(validBatch, fc.constantFrom<unknown>(null, 1, 'keystroke', [], true)).map(([b, value]) => ({ label: 'event not an object', body: JSON.stringify({ ...b, events: [...b.events, value] }) })) },
  // Too many events (5,001 small clicks, ~0.4 MB).
  { weight: 1, arbitrary: validBatch.map((b) => ({ label: 'too many events', body: JSON.stringify({ ...b, events: Array.from({ length: MAX_EVENTS + 1 }, (_, n) => ({ kind: 'click', ts: now() - n, x: 1, y: 2, button: 'left' })) }) })) },
  // Deep nesting, at the top, as the events, or as an extra key's value.
  {
    weight: 1,
    arbitrary: fc.tuple(validBatch, fc.integer({ min: 500, max: 150_000 }), fc.constantFrom('array' as const, 'object' as const), fc.constantFrom('top', 'events', 'extra')).map(([b, depth, shape, where]) => {
      const nested = deep(depth, shape);
      const body = where === 'top' ? nested : where === 'events' ? `{"batchId":${JSON.stringify(b.batchId)},"deviceId":"d","events":[${nested}]}` : withKey(JSON.stringify(b), 'nested', nested);
      return { label: `deep ${shape} ${where}`, body };
    }),
  },
  // Huge strings: under the limit (400), and over it (413), also by multi-byte characters.
  {
    weight: 1,
    arbitrary: fc.tuple(validBatch, fc.oneof(fc.integer({ min: 4_097, max: 1_000_000 }).map((n) => 'x'.repeat(n)), fc.integer({ min: 1_048_577, max: 1_300_000 }).map((n) => 'y'.repeat(n)), fc.integer({ min: 4_097, max: 450_000 }).map((n) => '€'.repeat(n)))).map(([b, text]) => {
      b.events.unshift({ kind: 'keystroke', ts: now(), text });
      return { label: `huge text (${Buffer.byteLength(text)} bytes)`, body: JSON.stringify(b) };
    }),
  },
  // Unicode at the edges: invalid UTF-8 bytes, NUL, BOM, overlong and surrogate encodings in an id.
  {
    weight: 2,
    arbitrary: fc.tuple(validBatch, fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x00], [0xef, 0xbb, 0xbf], [0xe2, 0x80, 0xae]), fc.constantFrom('application/json', 'application/octet-stream', 'text/plain; charset=utf-8')).map(([b, bytes, contentType]) => {
      const json = JSON.stringify(b);
      const at = json.indexOf(b.batchId) + 1;
      return { label: `bytes ${bytes.map((x) => x.toString(16)).join(' ')} in batchId`, body: Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from(bytes), Buffer.from(json.slice(at))]), contentType };
    }),
  },
);

const FUZZ_CASES = Number(process.env['FUZZ_CASES'] ?? 2_000);
const CONCURRENCY = 8;

describe('malformed bodies through the gateway (invariant 6)', () => {
  it(`answers each of ${FUZZ_CASES} malformed bodies with a 4xx, never a 5xx, and writes nothing`, async () => {
    // Arrange: the agent has consent for everything, so a body that slipped through would be stored
    await grant('e-fuzz', ALL_SCOPES);
    const token = await t.token('e-fuzz', 'capture:write', 3_600);
    const before = await writeCounts();
    const notesBefore = t.local.notes().length;
    const statuses = new Map<number, number>();
    const labels = new Map<string, number>();
    let sent = 0;
    let oversized = 0;
    const started = performance.now();

    // Act: 8 bodies at a time through the gateway
    await fc.assert(
      fc.asyncProperty(fc.array(malformed, { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (cases) => {
        const answers = await Promise.all(cases.map((c) => post(token, c.body, { 'content-type': c.contentType ?? 'application/json' })));
        for (const [i, answer] of answers.entries()) {
          const c = cases[i];
          if (c === undefined) continue;
          sent += 1;
          const size = Buffer.byteLength(c.body);
          if (size > MAX_BODY_BYTES) oversized += 1;
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const kind = c.label.replace(/ [("].*$/, '');
          labels.set(kind, (labels.get(kind) ?? 0) + 1);
          const what = `${c.label}: ${String(c.body).slice(0, 300)}`;
          expect(answer.status, what).toBe(size > MAX_BODY_BYTES ? 413 : 400);
          const body = answer.json<{ error?: unknown; message?: unknown }>();
          expect(typeof body.error, what).toBe('string');
          expect(String(body.error), what).toMatch(/^[a-z]+(-[a-z]+)*$/);
          expect(typeof body.message, what).toBe('string');
          expect(answer.text, what).not.toMatch(/\n\s+at |node_modules|aws-sdk|ThrottlingException|AccessDenied/);
        }
      }),
      { numRuns: Math.ceil(FUZZ_CASES / CONCURRENCY), seed: SEED },
    );
    const elapsed = Math.round(performance.now() - started);

    // Assert: nothing written, nothing crashed, and the stack still stores a good batch
    const after = await writeCounts();
    // A summary: the per-kind counts are dozens of labels, too long for one useful line.
    const rarest = [...labels.entries()].sort((a, b) => a[1] - b[1])[0];
    console.info(`fuzz: ${sent} bodies (${oversized} over 1 MiB) in ${elapsed} ms, seed ${SEED}, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ${labels.size} kinds of body (rarest: ${rarest ? `${rarest[0].slice(0, 60)} ×${rarest[1]}` : 'none'})`);
    expect(sent).toBeGreaterThanOrEqual(FUZZ_CASES);
    expect(oversized).toBeGreaterThan(0);
    expect(after).toEqual(before);
    // An access line ends in a random request id, which can spell "crash" by chance: judge it by its status.
    const faults = t.local.notes().slice(notesBefore).filter((n) => {
      const access = /^\S+ \S+ (\d{3}) \d+ ms \S+$/.exec(n);
      return access ? Number(access[1]) >= 500 : /fault|failed|timed out|crash/i.test(n);
    });
    expect(faults).toEqual([]);
    const good = await post(token, captureBatch());
    expect(good.status).toBe(202);
  }, 120_000);
});

// The consent lifecycle over HTTP against the local stack: real JWTs, the real consent and purge
// functions, and KMS decisions checked with the ingest role's own credentials.
import { DescribeKeyCommand, GenerateDataKeyCommand, GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKeyPolicy } from '../../lambdas/shared/key-policy.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';

const MINUTE = 60_000;
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

const manage = (id: string) => t.token(id, 'consent:manage');

async function kmsOutcome(employeeId: string, scope: string, keyId = `alias/consent-capture/${employeeId}`): Promise<string> {
  try {
    await t.kms('ingest').send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { employeeId, scope, batchId: 'b-e2e' } }));
    return 'allowed';
  } catch (error) {
    return (error as Error).name;
  }
}

async function keyPolicy(employeeId: string): Promise<unknown> {
  const result = await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: await keyArnOf(employeeId), PolicyName: 'default' }));
  return JSON.parse(result.Policy ?? '{}');
}

async function keyArnOf(employeeId: string): Promise<string> {
  const described = await t.kms('steward').send(new DescribeKeyCommand({ KeyId: `alias/consent-capture/${employeeId}` }));
  return described.KeyMetadata?.Arn ?? '';
}

describe('the consent lifecycle of one employee', () => {
  const id = 'e-life';

  it('1. grant: creates the key, and KMS allows ingest for the consented scopes only', async () => {
    // Act
    const response = await t.call('POST', '/v1/consent', { token: await manage(id), body: { scopes: ['keystrokes', 'clicks'], ...NOTICE } });

    // Assert
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ employeeId: id, status: 'active', scopes: ['keystrokes', 'clicks'], sequence: 1, ...NOTICE });
    expect(await keyPolicy(id)).toEqual(buildKeyPolicy({ employeeId: id, status: 'active', scopes: ['keystrokes', 'clicks'] }, t.roles));
    expect(await kmsOutcome(id, 'keystrokes')).toBe('allowed');
    expect(await kmsOutcome(id, 'clicks')).toBe('allowed');
    expect(await kmsOutcome(id, 'app-focus')).toBe('AccessDeniedException');
  });

  it('2. pause: KMS denies ingest, and allows it again once the pause lapses by the clock', async () => {
    const response = await t.call('POST', '/v1/consent/pause', { token: await manage(id), body: { minutes: 90 } });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'paused', sequence: 2 });
    expect(Date.parse(String(response.body['pausedUntil'])) - Date.now()).toBeGreaterThan(89 * MINUTE);
    expect(await kmsOutcome(id, 'clicks')).toBe('AccessDeniedException');
    t.clock.advance(91 * MINUTE);
    try {
      expect(await kmsOutcome(id, 'clicks')).toBe('allowed');
    } finally {
      t.clock.reset();
    }
  });

  it('3. resume: ingest is allowed again at once', async () => {
    const response = await t.call('POST', '/v1/consent/resume', { token: await manage(id) });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'active', sequence: 3 });
    expect(response.body['pausedUntil']).toBeUndefined();
    expect(await kmsOutcome(id, 'clicks')).toBe('allowed');
  });

  it('4. revoke: KMS denies ingest, and the employee still sees their history', async () => {
    const response = await t.call('POST', '/v1/consent/revoke', { token: await manage(id), body: { erase: false } });
    const history = await t.call('GET', '/v1/consent/history', { token: await manage(id) });

    expect(response.body).toMatchObject({ status: 'revoked', scopes: [], sequence: 4 });
    expect(await kmsOutcome(id, 'clicks')).toBe('AccessDeniedException');
    expect(history.status).toBe(200);
    const events = history.body['events'] as { sequence: number; kind: string; actor: Record<string, unknown> }[];
    // Each change names the employee at the local issuer, with the evidence of its own request.
    const self = { kind: 'employee', issuer: t.stack.issuer.issuer, subject: id, jti: expect.any(String), iat: expect.any(Number), tokenSha256: expect.stringMatching(/^[0-9a-f]{64}$/) };
    expect(events.map((e) => [e.sequence, e.kind, e.actor])).toEqual([
      [1, 'granted', self],
      [2, 'paused', self],
      [3, 'resumed', self],
      [4, 'revoked', self],
    ]);
  });

  it('5. revoke with erase: the key is disabled and pending deletion, the objects are gone, the ledger says purged', async () => {
    // Arrange: objects under both of the employee's prefixes, and one of a neighbour whose id shares a prefix.
    const { captures, exports } = LOCAL_RESOURCES.buckets;
    const keyArn = await keyArnOf(id);
    for (let n = 0; n < 5; n += 1) {
      await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: `captures/${id}/clicks/2026/11/26/b-${n}`, Body: 'ciphertext' }));
    }
    await t.s3.send(new PutObjectCommand({ Bucket: exports, Key: `exports/${id}/x-1.jsonl`, Body: 'export' }));
    await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: `captures/${id}-2/clicks/2026/11/26/b-0`, Body: 'neighbour' }));

    // Act
    const response = await t.call('POST', '/v1/consent/revoke', { token: await manage(id), body: { erase: true } });
    const token = await manage(id);
    const purged = await pollUntil(async () => {
      const r = await t.call('GET', '/v1/consent', { token });
      return r.body['status'] === 'purged' && r;
    }, { timeoutMs: 20_000, what: 'the purge' });

    // Assert
    expect(response.status).toBe(200);
    expect(response.body['status']).toBe('purging');
    expect(purged.body['status']).toBe('purged');
    const key = await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }));
    expect(key.KeyMetadata).toMatchObject({ Enabled: false, KeyState: 'PendingDeletion' });
    expect(key.KeyMetadata?.DeletionDate?.getTime()).toBeGreaterThan(Date.now() + 6.9 * 24 * 60 * MINUTE);
    const left = async (bucket: string, prefix: string) => (await t.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).KeyCount ?? 0;
    expect(await left(captures, `captures/${id}/`)).toBe(0);
    expect(await left(exports, `exports/${id}/`)).toBe(0);
    expect(await left(captures, `captures/${id}-2/`)).toBe(1);
    const last = await t.ledger.latestEvent(id);
    expect(last).toMatchObject({ kind: 'purged', actor: { kind: 'service', name: 'purge-worker' }, details: { objectsDeleted: { captures: 5, exports: 1 } } });
    expect(Date.parse(String(last?.details?.['keyDeletionDate']))).toBe(key.KeyMetadata?.DeletionDate?.getTime());
    expect(await kmsOutcome(id, 'clicks', keyArn)).toBe('AccessDeniedException');
  });

  it('5b. the purge role disabled the key before it scheduled its deletion, as the trail shows', async () => {
    // Arrange
    const keyArn = await keyArnOf(id);
    const purgeRole = t.stack.identity.principals.purge.arn;

    // Act: the key's state-changing calls, in the order the local KMS recorded them.
    const changes = t.local
      .trail()
      .filter((r) => r.resources.some((res) => res.ARN === keyArn) && ['DisableKey', 'ScheduleKeyDeletion', 'EnableKey', 'CancelKeyDeletion'].includes(r.eventName))
      .map((r) => ({ call: r.eventName, by: r.userIdentity.sessionContext?.sessionIssuer.arn, error: r.errorCode, keyState: r.responseElements?.['keyState'] }));

    // Assert: Enabled -> Disabled (data unreadable) -> PendingDeletion, each by the purge role.
    expect(changes).toEqual([
      { call: 'DisableKey', by: purgeRole, error: undefined, keyState: undefined },
      { call: 'ScheduleKeyDeletion', by: purgeRole, error: undefined, keyState: 'PendingDeletion' },
    ]);
  });

  it('6. after erasure, consent is closed and says why', async () => {
    const response = await t.call('POST', '/v1/consent', { token: await manage(id), body: { scopes: ['clicks'], ...NOTICE } });

    expect(response.status).toBe(409);
    expect(response.body.error).toBe('consent-closed');
  });
});

describe('offboarding', () => {
  // An HR caller's sub is whatever the corporate IdP gives a person, not a pseudonymous employee id.
  const HR_SUBJECT = 'hr.admin@corp.example';

  it('lets HR erase an employee: 202 purging, then purged with the key shredded, and names the HR caller', async () => {
    // Arrange
    await t.call('POST', '/v1/consent', { token: await manage('e-leaver'), body: { scopes: ['clicks'], ...NOTICE } });
    const keyArn = await keyArnOf('e-leaver');

    // Act
    const response = await t.call('POST', '/v1/employees/e-leaver/offboard', { token: await t.token(HR_SUBJECT, 'capture:offboard') });
    const done = await pollUntil(async () => {
      const e = await t.ledger.latestEvent('e-leaver');
      return e?.kind === 'purged' && e;
    }, { timeoutMs: 20_000, what: 'the purge of e-leaver' });

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ employeeId: 'e-leaver', status: 'purging' });
    expect(done?.state.status).toBe('purged');
    const events = await t.ledger.events('e-leaver');
    const evidence = { jti: expect.any(String), iat: expect.any(Number), tokenSha256: expect.stringMatching(/^[0-9a-f]{64}$/) };
    expect(events.map((e) => [e.kind, e.actor])).toEqual([
      ['granted', { kind: 'employee', issuer: t.stack.issuer.issuer, subject: 'e-leaver', ...evidence }],
      ['offboarded', { kind: 'hr', issuer: t.stack.issuer.issuer, subject: HR_SUBJECT, ...evidence }],
      ['purged', { kind: 'service', name: 'purge-worker' }],
    ]);
    expect((await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState).toBe('PendingDeletion');
  });

  it('is idempotent: offboarding again answers the current status and adds no event', async () => {
    const before = (await t.ledger.events('e-leaver')).length;

    const response = await t.call('POST', '/v1/employees/e-leaver/offboard', { token: await t.token('hr-system', 'capture:offboard') });

    expect(response.status).toBe(202);
    expect(response.body['status']).toBe('purged');
    expect(await t.ledger.events('e-leaver')).toHaveLength(before);
  });

  it('erases an employee who never consented, recording it', async () => {
    const response = await t.call('POST', '/v1/employees/e-never/offboard', { token: await t.token('hr-system', 'capture:offboard') });
    const done = await pollUntil(async () => {
      const e = await t.ledger.latestEvent('e-never');
      return e?.kind === 'purged' && e;
    }, { timeoutMs: 20_000, what: 'the purge of e-never' });

    expect(response.status).toBe(202);
    expect(done?.details).toMatchObject({ objectsDeleted: { captures: 0, exports: 0 } });
  });
});

describe('concurrency', () => {
  it('20 concurrent pause and resume calls leave a gapless ledger whose fold is the state item and the key policy', async () => {
    // Arrange
    const id = 'e-storm';
    await t.call('POST', '/v1/consent', { token: await manage(id), body: { scopes: ['clicks', 'app-focus'], ...NOTICE } });
    const token = await manage(id);

    // Act
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        n % 2 === 0 ? t.call('POST', '/v1/consent/pause', { token, body: { minutes: 10 + n } }) : t.call('POST', '/v1/consent/resume', { token }),
      ),
    );

    // Assert
    expect(responses.filter((r) => r.status >= 500)).toEqual([]);
    expect(responses.every((r) => r.status === 200 || (r.status === 409 && r.body.error === 'concurrent-change'))).toBe(true);
    const events = await t.ledger.events(id);
    expect(events.map((e) => e.sequence)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    const folded = events.at(-1)?.state;
    expect(await t.ledger.readState(id)).toEqual(folded);
    expect(folded).toBeDefined();
    expect(await keyPolicy(id)).toEqual(buildKeyPolicy({ employeeId: id, status: folded?.status ?? 'none', scopes: folded?.scopes ?? [], ...(folded?.pausedUntil ? { pausedUntil: folded.pausedUntil } : {}) }, t.roles));
  });
});

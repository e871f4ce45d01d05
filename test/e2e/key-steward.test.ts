// The key steward is the only writer of employee keys, and the HTTP-facing consent function cannot
// choose what it writes: the consent role has no KMS write at all, may only invoke the steward,
// and the steward derives every policy from the newest valid ledger event whatever it is sent.
// Every consent event records the evidence of its request (a digest of the token, never the token).
import { createHash } from 'node:crypto';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  GetKeyPolicyCommand,
  PutKeyPolicyCommand,
  RevokeGrantCommand,
  TagResourceCommand,
} from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_TAG } from '../../contract/app.js';
import { buildKeyPolicy } from '../../lambdas/shared/key-policy.js';
import { eventSortKey } from '../../lambdas/shared/ledger.js';
import { appendRestating } from '../../lambdas/shared/restating-append.js';
import type { PrincipalName } from '../../local/principals.js';
import { localFunctionName } from '../../local/resource-names.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';

let t: TestStack;
const lambdas = new Map<PrincipalName, LambdaClient>();
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  for (const client of lambdas.values()) client.destroy();
  await t.close();
});

const STEWARD = localFunctionName('key-steward');
const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'allowed', (e: Error) => e.name);

function lambda(name: PrincipalName): LambdaClient {
  let client = lambdas.get(name);
  if (!client) {
    const { accessKeyId, secretAccessKey } = t.stack.identity.principals[name];
    client = new LambdaClient({ region: t.stack.identity.region, endpoint: t.stack.endpoints.lambda, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
    lambdas.set(name, client);
  }
  return client;
}

/** Invokes the steward as `principal` with any payload; resolves with its parsed answer. */
async function invokeSteward(principal: PrincipalName, payload: unknown): Promise<Record<string, unknown>> {
  const answer = await lambda(principal).send(new InvokeCommand({ FunctionName: STEWARD, Payload: Buffer.from(JSON.stringify(payload)) }));
  expect(answer.FunctionError).toBeUndefined();
  return JSON.parse(Buffer.from(answer.Payload ?? new Uint8Array()).toString('utf8')) as Record<string, unknown>;
}

async function consentTo(employeeId: string, scopes: string[] = ['clicks']): Promise<string> {
  const response = await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes, ...NOTICE } });
  expect(response.status).toBe(200);
  return (await t.ledger.latestEvent(employeeId))?.state.keyArn ?? '';
}

async function keyPolicy(keyArn: string): Promise<unknown> {
  return JSON.parse((await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy ?? '{}') as unknown;
}

describe('the consent role (the HTTP-facing function) and employee keys', () => {
  it('cannot put a policy, mint a grant, create a key or an alias, tag or revoke: AccessDenied for every write', async () => {
    // Arrange
    const keyArn = await consentTo('e-consent-writes');
    const consent = t.kms('consent');
    const selfTakeover = JSON.stringify({
      ...buildKeyPolicy({ employeeId: 'e-consent-writes', status: 'active', scopes: ['clicks'] }, t.roles),
      Statement: [{ Sid: 'Mine', Effect: 'Allow', Principal: { AWS: t.stack.identity.principals.consent.arn }, Action: 'kms:*', Resource: '*' }],
    });

    // Act
    const results = await Promise.all([
      outcome(consent.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: selfTakeover, BypassPolicyLockoutSafetyCheck: true }))),
      outcome(
        consent.send(
          new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.export, RetiringPrincipal: t.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-consent-writes' } } }),
        ),
      ),
      outcome(consent.send(new CreateKeyCommand({ Tags: [{ TagKey: APP_TAG.key, TagValue: APP_TAG.value }, { TagKey: 'employeeId', TagValue: 'e-consent-writes' }] }))),
      outcome(consent.send(new CreateAliasCommand({ AliasName: 'alias/consent-capture/e-consent-writes-2', TargetKeyId: keyArn }))),
      outcome(consent.send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: 'erasure', TagValue: 'requested' }] }))),
      outcome(consent.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: 'a'.repeat(64) }))),
    ]);

    // Assert
    expect(results).toEqual(Array(6).fill('AccessDeniedException'));
    expect(await keyPolicy(keyArn)).toEqual(buildKeyPolicy({ employeeId: 'e-consent-writes', status: 'active', scopes: ['clicks'] }, t.roles));
  });
});

describe('invoking the key steward', () => {
  it('is allowed to the consent role and denied to ingest, export, purge and the auditor', async () => {
    // Act
    const dryRun = (principal: PrincipalName) => outcome(lambda(principal).send(new InvokeCommand({ FunctionName: STEWARD, InvocationType: 'DryRun' })));
    const results = Object.fromEntries(await Promise.all((['consent', 'ingest', 'export', 'purge', 'auditor'] as const).map(async (p) => [p, await dryRun(p)] as const)));

    // Assert
    expect(results).toEqual({ consent: 'allowed', ingest: 'AccessDeniedException', export: 'AccessDeniedException', purge: 'AccessDeniedException', auditor: 'AccessDeniedException' });
  });

  it('as ingest, with a real request, is AccessDenied and writes nothing', async () => {
    // Arrange
    const keyArn = await consentTo('e-ingest-invokes');
    const before = await keyPolicy(keyArn);

    // Act
    const result = await outcome(lambda('ingest').send(new InvokeCommand({ FunctionName: STEWARD, Payload: Buffer.from(JSON.stringify({ action: 'apply', employeeId: 'e-ingest-invokes' })) })));

    // Assert
    expect(result).toBe('AccessDeniedException');
    expect(await keyPolicy(keyArn)).toEqual(before);
  });

  it('with a forged policy or state is refused, and the key keeps the builder\'s policy for the newest ledger event', async () => {
    // Arrange: consent to clicks only; the forger wants every scope and a statement of its own.
    const employeeId = 'e-forged-ask';
    const keyArn = await consentTo(employeeId);
    const expected = buildKeyPolicy({ employeeId, status: 'active', scopes: ['clicks'] }, t.roles);
    const forgedPolicy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: t.stack.identity.principals.consent.arn }, Action: 'kms:*', Resource: '*' }] };

    // Act
    const answers = [
      await invokeSteward('consent', { action: 'apply', employeeId, policy: forgedPolicy }),
      await invokeSteward('consent', { action: 'apply', employeeId, state: { employeeId, status: 'active', scopes: ['clicks', 'keystrokes', 'app-focus'], keyArn } }),
      await invokeSteward('consent', { action: 'put-policy', employeeId, keyArn, policy: forgedPolicy }),
    ];
    const afterForgeries = await keyPolicy(keyArn);
    const honest = await invokeSteward('consent', { action: 'apply', employeeId });

    // Assert
    expect(answers.map((a) => [a['ok'], a['error']])).toEqual([
      [false, 'invalid-request'],
      [false, 'invalid-request'],
      [false, 'invalid-request'],
    ]);
    expect(afterForgeries).toEqual(expected);
    expect(honest).toMatchObject({ ok: true, action: 'apply', sequence: 1 });
    expect(await keyPolicy(keyArn)).toEqual(expected);
  });

  it('refuses an employee id that is not a pseudonymous id, or no employee id', async () => {
    // Act
    const answers = await Promise.all([
      invokeSteward('consent', { action: 'apply', employeeId: '../e-1' }),
      invokeSteward('consent', { action: 'ensure-key', employeeId: 'x'.repeat(65) }),
      invokeSteward('consent', { action: 'apply' }),
      invokeSteward('consent', 'e-1'),
    ]);

    // Assert
    expect(answers).toEqual(Array(4).fill({ ok: false, error: 'invalid-request', message: 'the request is not one the key steward serves' }));
  });

  it('mints an export grant only where the newest event leaves ExportGrants: not before any consent, not after an erasure', async () => {
    // Arrange
    const employeeId = 'e-steward-grant';
    const beforeConsent = await invokeSteward('consent', { action: 'export-grant', employeeId, exportId: 'x-0' });
    await consentTo(employeeId);

    // The steward grants only an export the ledger records as requested (export-reach.attack.test.ts).
    await appendRestating(t.ledger, employeeId, { kind: 'export-requested', actor: { kind: 'employee', issuer: 'test', subject: employeeId }, details: { exportId: 'x-1' }, allowedIn: ['active'], at: new Date() });

    // Act
    const granted = await invokeSteward('consent', { action: 'export-grant', employeeId, exportId: 'x-1' });
    await t.call('POST', '/v1/consent/revoke', { token: await t.token(employeeId, 'consent:manage'), body: { erase: true } });
    const afterErasure = await invokeSteward('consent', { action: 'export-grant', employeeId, exportId: 'x-2' });

    // Assert
    expect(beforeConsent).toMatchObject({ ok: false, error: 'not-consented' });
    expect(granted).toMatchObject({ ok: true, action: 'export-grant', grantId: expect.any(String), grantToken: expect.any(String) });
    expect(afterErasure).toMatchObject({ ok: false, error: 'not-consented' });
  });
});

describe('the evidence of who asked', () => {
  it('records the SHA-256 of the exact token sent, its jti and iat, and never the token or its signature', async () => {
    // Arrange
    const employeeId = 'e-evidence';
    const token = await t.token(employeeId, 'consent:manage');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti: string; iat: number; iss: string };

    // Act
    const response = await t.call('POST', '/v1/consent', { token, body: { scopes: ['clicks'], ...NOTICE } });
    const raw = await t.local.dynamodb('admin').send(new GetItemCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Key: { pk: { S: employeeId }, sk: { S: eventSortKey(1) } }, ConsistentRead: true }));

    // Assert
    expect(response.status).toBe(200);
    expect((await t.ledger.latestEvent(employeeId))?.actor).toEqual({
      kind: 'employee',
      issuer: claims.iss,
      subject: employeeId,
      jti: claims.jti,
      iat: claims.iat,
      tokenSha256: createHash('sha256').update(token).digest('hex'),
    });
    const stored = JSON.stringify(raw.Item);
    expect(stored.length).toBeGreaterThan(100);
    for (const part of [token, signature, `${header}.${payload}`, payload]) expect(stored).not.toContain(part);
  });
});

// An insider with AdministratorAccess plants keys and ledger events to capture or read an
// employee's data. Ingest names keys only by alias, and first consent refuses a key it did not make.
import { CreateAliasCommand, CreateGrantCommand, CreateKeyCommand, DeleteAliasCommand, DescribeKeyCommand, UpdateAliasCommand } from '@aws-sdk/client-kms';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

/** A key the admin controls that also lets the ingest role generate data keys. */
async function adminKey(): Promise<string> {
  const admin = t.stack.identity.principals.admin;
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: admin.arn }, Action: 'kms:*', Resource: '*' },
      { Sid: 'LetIngestIn', Effect: 'Allow', Principal: { AWS: t.roles.ingest }, Action: 'kms:GenerateDataKey', Resource: '*' },
      { Sid: 'LookLikeOurs', Effect: 'Allow', Principal: { AWS: t.roles.consent }, Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy', 'kms:ListGrants'], Resource: '*' },
    ],
  };
  const created = await t.kms('admin').send(
    new CreateKeyCommand({ Policy: JSON.stringify(policy), Tags: [{ TagKey: 'app', TagValue: 'consent-capture' }] }),
  );
  return created.KeyMetadata?.Arn ?? '';
}

async function objectsOf(employeeId: string): Promise<number> {
  return (await t.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employeeId}/` }))).KeyCount ?? 0;
}

describe('an admin who writes the ledger', () => {
  it('cannot make ingest encrypt under a key of theirs by naming it in a forged consent event', async () => {
    // Arrange: a forged "granted" event for someone who never consented, naming the admin's key.
    const keyArn = await adminKey();
    const at = new Date().toISOString();
    const forged: ConsentEvent = {
      employeeId: 'e-forged',
      sequence: 1,
      kind: 'granted',
      at,
      actor: 'employee',
      state: { employeeId: 'e-forged', status: 'active', scopes: ['keystrokes', 'clicks', 'app-focus'], keyArn, sequence: 1, updatedAt: at },
    };
    await t.ledger.append(forged);

    // Act
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-forged', 'capture:write'), body: captureBatch() });

    // Assert: no alias, so KMS refuses every scope and nothing is stored.
    expect(response.status).toBe(403);
    expect(response.body['refused']).toEqual({ keystrokes: 'consent-not-active', clicks: 'consent-not-active', 'app-focus': 'consent-not-active' });
    expect(await objectsOf('e-forged')).toBe(0);
  });
});

describe('an admin who plants an alias before first consent', () => {
  it('is refused: consent answers 409 key-conflict and records nothing, so nothing is ever captured', async () => {
    // Arrange: the admin's key behind the employee's alias, with a Decrypt grant for the admin.
    const keyArn = await adminKey();
    await t.kms('admin').send(new CreateAliasCommand({ AliasName: 'alias/consent-capture/e-target', TargetKeyId: keyArn }));
    await t.kms('admin').send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.stack.identity.principals.admin.arn, Operations: ['Decrypt'] }));

    // Act
    const response = await t.call('POST', '/v1/consent', { token: await t.token('e-target', 'consent:manage'), body: { scopes: ['keystrokes'], ...NOTICE } });
    const capture = await t.call('POST', '/v1/events', { token: await t.token('e-target', 'capture:write'), body: captureBatch({ kinds: ['keystroke'] }) });

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(await t.ledger.latestEvent('e-target')).toBeUndefined();
    expect(capture.status).toBe(403);
    expect(await objectsOf('e-target')).toBe(0);
  });
});

describe('an admin who tries to move or remove an employee alias', () => {
  it('is refused by the current key policy, so ingest keeps encrypting under the employee key', async () => {
    // Arrange
    await t.call('POST', '/v1/consent', { token: await t.token('e-alias', 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
    const keyArn = await adminKey();

    // Act
    const moved = await t.kms('admin').send(new UpdateAliasCommand({ AliasName: 'alias/consent-capture/e-alias', TargetKeyId: keyArn })).catch((e: Error) => e.name);
    const deleted = await t.kms('admin').send(new DeleteAliasCommand({ AliasName: 'alias/consent-capture/e-alias' })).catch((e: Error) => e.name);
    const stored = await t.call('POST', '/v1/events', { token: await t.token('e-alias', 'capture:write'), body: captureBatch({ kinds: ['click'] }) });

    // Assert
    expect([moved, deleted]).toEqual(['AccessDeniedException', 'AccessDeniedException']);
    expect(stored.status).toBe(202);
    const described = await t.kms('consent').send(new DescribeKeyCommand({ KeyId: 'alias/consent-capture/e-alias' }));
    expect(described.KeyMetadata?.Arn).toBe((await t.ledger.latestEvent('e-alias'))?.state.keyArn);
  });
});

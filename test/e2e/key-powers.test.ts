// What the purge, steward and export roles can do to an employee key, and when: only an erasure
// opens shredding, and export grants are bound to the employee and end with a withdrawal.
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  ListGrantsCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKeyPolicy } from '../../lambdas/shared/key-policy.js';
import { APP_TAG } from '../../contract/app.js';
import type { PrincipalName } from '../../local/principals.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { inProcessConsent, type InProcessConsent } from '../support/in-process-services.js';
import { pollUntil } from '../support/local-stack.js';

let t: TestStack;
let consent: InProcessConsent;
beforeAll(async () => {
  t = await startTestStack();
  consent = inProcessConsent(t.local);
}, 60_000);
afterAll(async () => {
  consent.destroy();
  await t.close();
});

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'allowed', (e: Error) => e.name);

async function consentTo(employeeId: string): Promise<string> {
  const response = await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
  expect(response.status).toBe(200);
  return (await t.ledger.latestEvent(employeeId))?.state.keyArn ?? '';
}

describe('the purge role alone', () => {
  it('cannot disable an active key, schedule its deletion, or tag it for erasure itself', async () => {
    // Arrange
    const keyArn = await consentTo('e-shred-active');
    const purge = t.kms('purge');

    // Act
    const results = await Promise.all([
      outcome(purge.send(new DisableKeyCommand({ KeyId: keyArn }))),
      outcome(purge.send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 }))),
      outcome(purge.send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: 'erasure', TagValue: 'requested' }] }))),
    ]);

    // Assert
    expect(results).toEqual(['AccessDeniedException', 'AccessDeniedException', 'AccessDeniedException']);
    expect((await t.kms('steward').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState).toBe('Enabled');
  });

  it('shreds the key once the employee erased: the steward role tagged it when the erasure was recorded', async () => {
    // Arrange
    const keyArn = await consentTo('e-shred-erased');

    // Act
    const erase = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-shred-erased', 'consent:manage'), body: { erase: true } });

    // Assert: the purge worker, as the purge role, disabled the key and scheduled its deletion.
    expect(erase.status).toBe(200);
    await pollUntil(async () => (await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState === 'PendingDeletion', {
      timeoutMs: 10_000,
      what: 'the purge to shred the key',
    });
  });
});

describe('the sealed consent windows (the key description)', () => {
  const others = ['consent', 'ingest', 'export', 'purge', 'training', 'admin', 'auditor'] as const;
  const rewrite = (name: PrincipalName, keyArn: string) =>
    outcome(t.kms(name).send(new UpdateKeyDescriptionCommand({ KeyId: keyArn, Description: '{"v":1,"s":0,"w":{"clicks":[[0,null]]}}' })));

  it('may be rewritten by the steward role alone', async () => {
    // Arrange
    const keyArn = await consentTo('e-seal-writers');
    const sealed = (await t.kms('steward').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description ?? '';

    // Act
    const results = await Promise.all(others.map((name) => rewrite(name, keyArn)));
    const steward = await outcome(t.kms('steward').send(new UpdateKeyDescriptionCommand({ KeyId: keyArn, Description: sealed })));

    // Assert
    expect(results).toEqual(others.map(() => 'AccessDeniedException'));
    expect(steward).toBe('allowed');
    expect((await t.kms('steward').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description).toBe(sealed);
  });

  it('may be rewritten by nobody once the key is shredded', async () => {
    // Arrange
    const keyArn = await consentTo('e-seal-shredded');
    const erase = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-seal-shredded', 'consent:manage'), body: { erase: true } });

    // Act
    const results = await Promise.all([...others, 'steward' as const].map((name) => rewrite(name, keyArn)));

    // Assert
    expect(erase.status).toBe(200);
    expect(results).toEqual([...others, 'steward'].map(() => 'AccessDeniedException'));
  });
});

describe('the steward role and tags', () => {
  it('may set erasure=requested and nothing else, and nobody may untag', async () => {
    // Arrange
    const keyArn = await consentTo('e-tags');
    const c = t.kms('steward');

    // Act
    const results = await Promise.all([
      outcome(c.send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: 'erasure', TagValue: 'no' }] }))),
      outcome(c.send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: APP_TAG.key, TagValue: 'other' }] }))),
      outcome(c.send(new UntagResourceCommand({ KeyId: keyArn, TagKeys: ['employeeId'] }))),
      outcome(t.kms('purge').send(new UntagResourceCommand({ KeyId: keyArn, TagKeys: ['employeeId'] }))),
    ]);

    // Assert
    expect(results).toEqual(['AccessDeniedException', 'AccessDeniedException', 'AccessDeniedException', 'AccessDeniedException']);
  });
});

describe('export grants', () => {
  it('are refused without the employee constraint, or for another employee', async () => {
    // Arrange
    const keyArn = await consentTo('e-grant-refused');
    const c = t.kms('steward');
    const exportRole = t.roles.export;
    const grant = (extra: Record<string, unknown>) =>
      outcome(c.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: exportRole, RetiringPrincipal: exportRole, Operations: ['Decrypt'], ...extra })));

    // Act
    const results = await Promise.all([
      grant({}),
      grant({ Constraints: { EncryptionContextSubset: { employeeId: 'e-other' } } }),
      grant({ Constraints: { EncryptionContextEquals: { employeeId: 'e-grant-refused' } } }),
      outcome(c.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: exportRole, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-grant-refused' } } }))),
      grant({ Constraints: { EncryptionContextSubset: { employeeId: 'e-grant-refused' } } }),
    ]);

    // Assert: only the last, constrained to this employee and retirable by the export role, is allowed.
    expect(results).toEqual(['AccessDeniedException', 'AccessDeniedException', 'AccessDeniedException', 'AccessDeniedException', 'allowed']);
  });

  it('let the export role decrypt this employee\'s ciphertext and nothing under another employee id', async () => {
    // Arrange: a key with the builder's active policy plus a test-only Encrypt for the admin, so a
    // ciphertext under another employee id exists on the same key (ingest could never make one).
    const policy = buildKeyPolicy({ employeeId: 'e-export', status: 'active', scopes: ['clicks'] }, t.roles) as unknown as { Statement: object[] };
    policy.Statement.push({ Sid: 'TestEncrypt', Effect: 'Allow', Principal: { AWS: t.stack.identity.principals.admin.arn }, Action: 'kms:Encrypt', Resource: '*' });
    const created = await t.kms('steward').send(
      new CreateKeyCommand({ Policy: JSON.stringify(policy), Tags: [{ TagKey: APP_TAG.key, TagValue: APP_TAG.value }] }),
    );
    const keyArn = created.KeyMetadata?.Arn ?? '';
    const encrypt = async (context: Record<string, string>) =>
      (await t.kms('admin').send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('k'), EncryptionContext: context }))).CiphertextBlob;
    const own = { employeeId: 'e-export', scope: 'clicks', batchId: 'b-1' };
    const other = { employeeId: 'e-other', scope: 'clicks', batchId: 'b-1' };
    const [ownBlob, otherBlob] = [await encrypt(own), await encrypt(other)];
    await consent.steward.createExportGrant(keyArn, 'e-export', 'export-job-1');

    // Act
    const decrypt = (blob: Uint8Array | undefined, context: Record<string, string>) =>
      outcome(t.kms('export').send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: blob, EncryptionContext: context })));
    const results = [await decrypt(ownBlob, own), await decrypt(otherBlob, other)];

    // Assert
    expect(results).toEqual(['allowed', 'AccessDeniedException']);
  });

  it('are all revoked by the withdrawal; after it a new grant is possible only with the employee constraint', async () => {
    // Arrange
    const keyArn = await consentTo('e-grant-revoked');
    await consent.steward.createExportGrant(keyArn, 'e-grant-revoked', 'export-job-1');
    await consent.steward.createExportGrant(keyArn, 'e-grant-revoked', 'export-job-2');
    const before = (await t.kms('auditor').send(new ListGrantsCommand({ KeyId: keyArn }))).Grants ?? [];
    const exportRole = t.roles.export;
    const grant = (extra: Record<string, unknown>) =>
      outcome(t.kms('steward').send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: exportRole, RetiringPrincipal: exportRole, Operations: ['Decrypt'], ...extra })));

    // Act
    const revoke = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-grant-revoked', 'consent:manage'), body: { erase: false } });
    const afterRevoke = (await t.kms('auditor').send(new ListGrantsCommand({ KeyId: keyArn }))).Grants ?? [];
    const attempts = [
      await grant({}),
      await grant({ Constraints: { EncryptionContextSubset: { employeeId: 'e-other' } } }),
      await grant({ Operations: ['Decrypt', 'GenerateDataKey'], Constraints: { EncryptionContextSubset: { employeeId: 'e-grant-revoked' } } }),
      await outcome(consent.steward.createExportGrant(keyArn, 'e-grant-revoked', 'export-job-3')),
    ];

    // Assert: the old grants are gone; only the constrained export grant can be made again.
    expect(before).toHaveLength(2);
    expect(revoke.status).toBe(200);
    expect(afterRevoke).toEqual([]);
    expect(attempts).toEqual(['AccessDeniedException', 'AccessDeniedException', 'AccessDeniedException', 'allowed']);
    expect((await t.kms('auditor').send(new ListGrantsCommand({ KeyId: keyArn }))).Grants?.map((g) => g.Name)).toEqual(['export-job-3']);
  });
});

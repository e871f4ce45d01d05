// The local KMS through the unmodified @aws-sdk/client-kms: the employee key policies our builder
// emits are enforced by KMS decisions, for every role, through pause, grants and shredding.
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListGrantsCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  TagResourceCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  ScheduleKeyDeletionCommand,
  CancelKeyDeletionCommand,
  EnableKeyCommand,
  CreateAliasCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKeyPolicy, buildShreddedKeyPolicy } from '../../lambdas/shared/key-policy.js';
import { ALIAS_PREFIX } from '../../contract/app.js';
import { startTestKms, type TestKms } from '../support/local-kms.js';
import { applyState, createEmployeeKey } from '../support/employee-key.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let kms: TestKms;
beforeAll(async () => {
  kms = await startTestKms();
});
afterAll(async () => {
  await kms.close();
});

function context(employeeId: string, scope: string, batchId = 'b-1'): Record<string, string> {
  return { employeeId, scope, batchId };
}

async function generate(client: KMSClient, keyId: string, ctx: Record<string, string>) {
  return client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: ctx }));
}

/** The exception name the SDK raised, or 'allowed'. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'allowed';
  } catch (error) {
    return (error as Error).name;
  }
}

describe('ingest role and the CaptureWhileConsented statement', () => {
  let keyArn: string;
  beforeAll(async () => {
    keyArn = await createEmployeeKey(kms, { employeeId: 'e-42', status: 'active', scopes: ['keystrokes', 'clicks'] });
  });

  it('is allowed GenerateDataKey with its employeeId and a consented scope', async () => {
    const result = await generate(kms.client('ingest'), keyArn, context('e-42', 'clicks'));

    expect(result.KeyId).toBe(keyArn);
    expect(result.Plaintext).toHaveLength(32);
    expect(result.CiphertextBlob?.length).toBeGreaterThan(32);
  });

  it('reaches the key through its alias too', async () => {
    expect(await outcome(generate(kms.client('ingest'), 'alias/consent-capture/e-42', context('e-42', 'keystrokes')))).toBe('allowed');
  });

  it.each([
    ['another employee id', context('e-43', 'clicks')],
    ['a scope not consented', context('e-42', 'app-focus')],
    ['an unknown scope', context('e-42', 'screenshots')],
    ['no encryption context', {}],
    ['an extra context pair', { ...context('e-42', 'clicks'), note: 'x' }],
    ['no batch id', { employeeId: 'e-42', scope: 'clicks' }],
    ['a differently cased context key', { EmployeeId: 'e-42', scope: 'clicks', batchId: 'b-1' }],
    ['a differently cased employee id', context('E-42', 'clicks')],
  ])('is denied with %s', async (_label, ctx) => {
    expect(await outcome(generate(kms.client('ingest'), keyArn, ctx))).toBe('AccessDeniedException');
  });

  it('is denied Encrypt, Decrypt and GenerateDataKeyWithoutPlaintext: only GenerateDataKey is granted', async () => {
    const ingest = kms.client('ingest');
    const { CiphertextBlob } = await generate(ingest, keyArn, context('e-42', 'clicks'));

    expect(await outcome(ingest.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context('e-42', 'clicks') })))).toBe(
      'AccessDeniedException',
    );
    expect(await outcome(ingest.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from('x'), EncryptionContext: context('e-42', 'clicks') })))).toBe(
      'AccessDeniedException',
    );
  });

  it('is denied during a pause and allowed again once the pause lapses inside KMS', async () => {
    // Arrange
    const until = new Date(kms.clock.now().getTime() + 2 * HOUR).toISOString();
    await applyState(kms, keyArn, { employeeId: 'e-42', status: 'paused', scopes: ['keystrokes', 'clicks'], pausedUntil: until });
    const ingest = kms.client('ingest');

    // Act and assert: denied now, denied a second before the end, allowed a second after.
    expect(await outcome(generate(ingest, keyArn, context('e-42', 'clicks')))).toBe('AccessDeniedException');
    kms.clock.advance(2 * HOUR - 1000);
    expect(await outcome(generate(ingest, keyArn, context('e-42', 'clicks')))).toBe('AccessDeniedException');
    kms.clock.advance(2000);
    expect(await outcome(generate(ingest, keyArn, context('e-42', 'clicks')))).toBe('allowed');
    kms.clock.reset();
  });

  it('names the explicit deny in the AccessDeniedException of a pause', async () => {
    const until = new Date(kms.clock.now().getTime() + HOUR).toISOString();
    await applyState(kms, keyArn, { employeeId: 'e-42', status: 'paused', scopes: ['clicks'], pausedUntil: until });

    const error = await generate(kms.client('ingest'), keyArn, context('e-42', 'clicks')).catch((e: Error) => e);

    expect((error as Error).message).toMatch(/kms:GenerateDataKey .*explicit deny in a resource-based policy/);
    await applyState(kms, keyArn, { employeeId: 'e-42', status: 'active', scopes: ['keystrokes', 'clicks'] });
  });

  it('is denied after revoke', async () => {
    await applyState(kms, keyArn, { employeeId: 'e-42', status: 'revoked', scopes: [] });

    expect(await outcome(generate(kms.client('ingest'), keyArn, context('e-42', 'clicks')))).toBe('AccessDeniedException');
    await applyState(kms, keyArn, { employeeId: 'e-42', status: 'active', scopes: ['keystrokes', 'clicks'] });
  });
});

describe('an admin with AdministratorAccess', () => {
  let keyArn: string;
  let blob: Uint8Array | undefined;
  beforeAll(async () => {
    keyArn = await createEmployeeKey(kms, { employeeId: 'e-admin-target', status: 'active', scopes: ['clicks'] });
    blob = (await generate(kms.client('ingest'), keyArn, context('e-admin-target', 'clicks'))).CiphertextBlob;
  });

  it('can create and use a key of its own (the identity policy works where a key policy delegates)', async () => {
    const admin = kms.client('admin');
    const own = await admin.send(new CreateKeyCommand({}));

    expect(await outcome(admin.send(new GenerateDataKeyCommand({ KeyId: own.KeyMetadata?.KeyId, KeySpec: 'AES_256' })))).toBe('allowed');
  });

  it('can move an alias between keys whose policies delegate to IAM (UpdateAlias)', async () => {
    const admin = kms.client('admin');
    const first = (await admin.send(new CreateKeyCommand({}))).KeyMetadata?.Arn;
    const second = (await admin.send(new CreateKeyCommand({}))).KeyMetadata?.Arn;
    await admin.send(new CreateAliasCommand({ AliasName: 'alias/admin-owned', TargetKeyId: first }));

    await admin.send(new UpdateAliasCommand({ AliasName: 'alias/admin-owned', TargetKeyId: second }));

    expect((await admin.send(new DescribeKeyCommand({ KeyId: 'alias/admin-owned' }))).KeyMetadata?.Arn).toBe(second);
  });

  it.each([
    ['DescribeKey', (k: string) => new DescribeKeyCommand({ KeyId: k })],
    ['GetKeyPolicy', (k: string) => new GetKeyPolicyCommand({ KeyId: k, PolicyName: 'default' })],
    ['GenerateDataKey', (k: string) => new GenerateDataKeyCommand({ KeyId: k, KeySpec: 'AES_256', EncryptionContext: context('e-admin-target', 'clicks') })],
    ['Encrypt', (k: string) => new EncryptCommand({ KeyId: k, Plaintext: Buffer.from('x') })],
    ['DisableKey', (k: string) => new DisableKeyCommand({ KeyId: k })],
    ['EnableKey', (k: string) => new EnableKeyCommand({ KeyId: k })],
    ['ScheduleKeyDeletion', (k: string) => new ScheduleKeyDeletionCommand({ KeyId: k, PendingWindowInDays: 7 })],
    ['ListGrants', (k: string) => new ListGrantsCommand({ KeyId: k })],
    ['ListResourceTags', (k: string) => new ListResourceTagsCommand({ KeyId: k })],
    ['CreateGrant', (k: string) => new CreateGrantCommand({ KeyId: k, GranteePrincipal: kms.roles.export, Operations: ['Decrypt'] })],
    [
      'PutKeyPolicy (to take the key over)',
      (k: string) =>
        new PutKeyPolicyCommand({
          KeyId: k,
          BypassPolicyLockoutSafetyCheck: true,
          Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: kms.roles.steward.replace(/role\/.*/, 'root') }, Action: 'kms:*', Resource: '*' }] }),
        }),
    ],
  ])('is denied %s on an employee key', async (_label, command) => {
    expect(await outcome(kms.client('admin').send(command(keyArn) as never))).toBe('AccessDeniedException');
  });

  it('is denied Decrypt of an employee ciphertext', async () => {
    const result = await outcome(kms.client('admin').send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context('e-admin-target', 'clicks') })));

    expect(result).toBe('AccessDeniedException');
  });
});

describe('export role and Decrypt grants', () => {
  let keyArn: string;
  let otherKeyArn: string;
  let blob: Uint8Array | undefined;
  let otherBlob: Uint8Array | undefined;
  beforeAll(async () => {
    keyArn = await createEmployeeKey(kms, { employeeId: 'e-exp', status: 'active', scopes: ['clicks'] });
    otherKeyArn = await createEmployeeKey(kms, { employeeId: 'e-other', status: 'active', scopes: ['clicks'] });
    blob = (await generate(kms.client('ingest'), keyArn, context('e-exp', 'clicks'))).CiphertextBlob;
    otherBlob = (await generate(kms.client('ingest'), otherKeyArn, context('e-other', 'clicks'))).CiphertextBlob;
  });

  const decrypt = (ciphertext: Uint8Array | undefined, employeeId: string) =>
    kms.client('export').send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context(employeeId, 'clicks') }));

  const grant = (KeyId: string, employeeId: string) =>
    kms.client('steward').send(
      new CreateGrantCommand({
        KeyId,
        GranteePrincipal: kms.roles.export,
        RetiringPrincipal: kms.roles.export,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: { employeeId } },
        Name: `export-${employeeId}`,
      }),
    );

  it('is denied Decrypt without a grant', async () => {
    expect(await outcome(decrypt(blob, 'e-exp'))).toBe('AccessDeniedException');
  });

  it('decrypts with a grant constrained to that employee, and only that employee', async () => {
    // Arrange
    const { GrantId, GrantToken } = await grant(keyArn, 'e-exp');

    // Act
    const result = await decrypt(blob, 'e-exp');

    // Assert: the same key still refuses a different context, and another employee's key refuses entirely.
    expect(result.KeyId).toBe(keyArn);
    expect(result.Plaintext).toHaveLength(32);
    expect(await outcome(kms.client('export').send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context('e-exp', 'clicks'), employeeId: 'e-other' } })))).toBe('AccessDeniedException');
    expect(await outcome(decrypt(otherBlob, 'e-other'))).toBe('AccessDeniedException');

    // Act: the export role retires its grant when done.
    await kms.client('export').send(new RetireGrantCommand({ GrantToken }));

    // Assert
    expect(await outcome(decrypt(blob, 'e-exp'))).toBe('AccessDeniedException');
    const grants = await kms.client('steward').send(new ListGrantsCommand({ KeyId: keyArn }));
    expect(grants.Grants?.map((g) => g.GrantId)).not.toContain(GrantId);
  });

  it('is denied again after the steward role revokes the grant', async () => {
    const { GrantId } = await grant(keyArn, 'e-exp');
    expect(await outcome(decrypt(blob, 'e-exp'))).toBe('allowed');

    await kms.client('steward').send(new RevokeGrantCommand({ KeyId: keyArn, GrantId }));

    expect(await outcome(decrypt(blob, 'e-exp'))).toBe('AccessDeniedException');
  });

  it('fails with InvalidCiphertextException when the context differs from the one sealed in', async () => {
    const { GrantToken } = await grant(keyArn, 'e-exp');
    const wrongScope = kms.client('export').send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context('e-exp', 'keystrokes') }));

    expect(await outcome(wrongScope)).toBe('InvalidCiphertextException');
    await kms.client('export').send(new RetireGrantCommand({ GrantToken }));
  });

  it.each([
    ['an Encrypt grant', { Operations: ['Decrypt', 'Encrypt'] as const, GranteePrincipal: 'export' as const }],
    ['a grant to the ingest role', { Operations: ['Decrypt'] as const, GranteePrincipal: 'ingest' as const }],
    ['a grant to itself', { Operations: ['Decrypt'] as const, GranteePrincipal: 'steward' as const }],
  ])('does not let the steward role mint %s', async (_label, shape) => {
    const attempt = kms.client('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: kms.roles[shape.GranteePrincipal], Operations: [...shape.Operations] }),
    );

    expect(await outcome(attempt)).toBe('AccessDeniedException');
  });

  it('lets a grant create only narrower grants: same or fewer operations, same or stricter constraints', async () => {
    // Arrange: on a key of the admin's, a grant lets export decrypt and pass Decrypt on, for e-x only.
    const admin = kms.client('admin');
    const key = (await admin.send(new CreateKeyCommand({}))).KeyMetadata?.Arn;
    await admin.send(
      new CreateGrantCommand({ KeyId: key, GranteePrincipal: kms.roles.export, Operations: ['Decrypt', 'CreateGrant'], Constraints: { EncryptionContextSubset: { employeeId: 'e-x' } } }),
    );
    const passOn = (Operations: ('Decrypt' | 'Encrypt')[], Constraints?: { EncryptionContextSubset: Record<string, string> }) =>
      outcome(kms.client('export').send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: kms.roles.purge, Operations, ...(Constraints ? { Constraints } : {}) })));

    // Act and assert
    expect(await passOn(['Decrypt', 'Encrypt'], { EncryptionContextSubset: { employeeId: 'e-x' } })).toBe('AccessDeniedException');
    expect(await passOn(['Decrypt'])).toBe('AccessDeniedException');
    expect(await passOn(['Decrypt'], { EncryptionContextSubset: { employeeId: 'e-other' } })).toBe('AccessDeniedException');
    expect(await passOn(['Decrypt'], { EncryptionContextSubset: { employeeId: 'e-x', scope: 'clicks' } })).toBe('allowed');
  });

  it('does not let another principal retire a grant it is not named in', async () => {
    const { GrantToken } = await grant(keyArn, 'e-exp');

    expect(await outcome(kms.client('ingest').send(new RetireGrantCommand({ GrantToken })))).toBe('AccessDeniedException');
    expect(await outcome(kms.client('admin').send(new RetireGrantCommand({ GrantToken })))).toBe('AccessDeniedException');
    await kms.client('export').send(new RetireGrantCommand({ GrantToken }));
  });
});

describe('UpdateKeyDescription: the sealed consent windows', () => {
  const description = '{"v":1,"s":0,"w":{"clicks":[[0,null]]}}';

  it('lets the steward role write the description, which DescribeKey answers and the trail records', async () => {
    // Arrange
    const keyArn = await createEmployeeKey(kms, { employeeId: 'e-desc', status: 'active', scopes: ['clicks'] });

    // Act
    await kms.client('steward').send(new UpdateKeyDescriptionCommand({ KeyId: keyArn, Description: description }));

    // Assert
    const described = await kms.client('ingest').send(new DescribeKeyCommand({ KeyId: `${ALIAS_PREFIX}e-desc` }));
    expect(described.KeyMetadata?.Description).toBe(description);
    expect(kms.trail().filter((r) => r.eventName === 'UpdateKeyDescription').at(-1)).toMatchObject({
      userIdentity: { sessionContext: { sessionIssuer: { arn: kms.roles.steward } } },
      requestParameters: { keyId: keyArn, description },
      resources: [{ ARN: keyArn }],
      readOnly: false,
    });
  });

  it('refuses every other role, the administrator included, and leaves the description as it was', async () => {
    // Arrange
    const keyArn = await createEmployeeKey(kms, { employeeId: 'e-desc-2', status: 'active', scopes: ['clicks'] });
    const before = (await kms.client('steward').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description;

    // Act
    const answers = await Promise.all(
      (['consent', 'ingest', 'export', 'purge', 'admin', 'auditor'] as const).map(async (name) => [name, await outcome(kms.client(name).send(new UpdateKeyDescriptionCommand({ KeyId: keyArn, Description: description })))]),
    );

    // Assert
    expect(Object.fromEntries(answers)).toEqual({ consent: 'AccessDeniedException', ingest: 'AccessDeniedException', export: 'AccessDeniedException', purge: 'AccessDeniedException', admin: 'AccessDeniedException', auditor: 'AccessDeniedException' });
    expect((await kms.client('steward').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description).toBe(before);
  });

  it('refuses the steward role on a shredded key, takes no alias, and refuses a description over 8,192 characters', async () => {
    // Arrange
    const shredded = await createEmployeeKey(kms, { employeeId: 'e-desc-3', status: 'active', scopes: ['clicks'] });
    await kms.client('steward').send(new PutKeyPolicyCommand({ KeyId: shredded, Policy: JSON.stringify(buildShreddedKeyPolicy('e-desc-3', kms.roles)), BypassPolicyLockoutSafetyCheck: true }));
    const live = await createEmployeeKey(kms, { employeeId: 'e-desc-4', status: 'active', scopes: ['clicks'] });
    const steward = kms.client('steward');

    // Act, Assert
    expect(await outcome(steward.send(new UpdateKeyDescriptionCommand({ KeyId: shredded, Description: description })))).toBe('AccessDeniedException');
    expect(await outcome(steward.send(new UpdateKeyDescriptionCommand({ KeyId: `${ALIAS_PREFIX}e-desc-4`, Description: description })))).toBe('NotFoundException');
    expect(await outcome(steward.send(new UpdateKeyDescriptionCommand({ KeyId: live, Description: 'x'.repeat(8193) })))).toBe('ValidationException');
    expect(await outcome(steward.send(new UpdateKeyDescriptionCommand({ KeyId: live, Description: 'x'.repeat(8192) })))).toBe('allowed');
  });
});

describe('shredding: DisableKey and ScheduleKeyDeletion', () => {
  let keyArn: string;
  let blob: Uint8Array | undefined;
  beforeAll(async () => {
    keyArn = await createEmployeeKey(kms, { employeeId: 'e-shred', status: 'active', scopes: ['clicks'] });
    blob = (await generate(kms.client('ingest'), keyArn, context('e-shred', 'clicks'))).CiphertextBlob;
    await kms.client('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: kms.roles.export, RetiringPrincipal: kms.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-shred' } } }),
    );
  });

  const uses = () => [
    outcome(generate(kms.client('ingest'), keyArn, context('e-shred', 'clicks'))),
    outcome(kms.client('export').send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context('e-shred', 'clicks') }))),
  ];

  it('refuses the steward role: only the purge role may disable or delete the key', async () => {
    expect(await outcome(kms.client('steward').send(new DisableKeyCommand({ KeyId: keyArn })))).toBe('AccessDeniedException');
    expect(await outcome(kms.client('steward').send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 })))).toBe(
      'AccessDeniedException',
    );
  });

  it('fails every use with DisabledException once disabled', async () => {
    // As the steward role records an erasure: the tag that opens Shredding, then the shredded policy.
    await kms.client('steward').send(new TagResourceCommand({ KeyId: keyArn, Tags: [{ TagKey: 'erasure', TagValue: 'requested' }] }));
    await kms.client('steward').send(
      new PutKeyPolicyCommand({ KeyId: keyArn, Policy: JSON.stringify(buildShreddedKeyPolicy('e-shred', kms.roles)), BypassPolicyLockoutSafetyCheck: true }),
    );
    await kms.client('purge').send(new DisableKeyCommand({ KeyId: keyArn }));

    // Decrypt still has its grant, GenerateDataKey lost its statement: the key state is checked after authorization.
    expect(await Promise.all(uses())).toEqual(['AccessDeniedException', 'DisabledException']);
  });

  it('fails every use with KMSInvalidStateException once pending deletion', async () => {
    const scheduled = await kms.client('purge').send(new ScheduleKeyDeletionCommand({ KeyId: keyArn, PendingWindowInDays: 7 }));

    // Decrypt still has its grant, so only the key state refuses it.
    expect(scheduled.KeyState).toBe('PendingDeletion');
    expect(scheduled.DeletionDate?.getTime()).toBeCloseTo(kms.clock.now().getTime() + 7 * DAY, -4);
    expect(await Promise.all(uses())).toEqual(['AccessDeniedException', 'KMSInvalidStateException']);
    const described = await kms.client('purge').send(new DescribeKeyCommand({ KeyId: keyArn }));
    expect(described.KeyMetadata).toMatchObject({ KeyState: 'PendingDeletion', Enabled: false });
    expect(await outcome(kms.client('purge').send(new DisableKeyCommand({ KeyId: keyArn })))).toBe('KMSInvalidStateException');
  });

  it('cannot be undone by the steward role: no new policy, no EnableKey, no CancelKeyDeletion', async () => {
    const steward = kms.client('steward');
    const active = JSON.stringify(buildKeyPolicy({ employeeId: 'e-shred', status: 'active', scopes: ['clicks'] }, kms.roles));

    expect(await outcome(steward.send(new PutKeyPolicyCommand({ KeyId: keyArn, Policy: active, BypassPolicyLockoutSafetyCheck: true })))).toBe('AccessDeniedException');
    expect(await outcome(steward.send(new CancelKeyDeletionCommand({ KeyId: keyArn })))).toBe('AccessDeniedException');
    expect(await outcome(steward.send(new EnableKeyCommand({ KeyId: keyArn })))).toBe('AccessDeniedException');
  });

  it('does not let the purge role cancel the deletion', async () => {
    expect(await outcome(kms.client('purge').send(new CancelKeyDeletionCommand({ KeyId: keyArn })))).toBe('AccessDeniedException');
  });

  it('is gone (NotFoundException) once the deletion date passes', async () => {
    kms.clock.advance(7 * DAY + 1000);
    try {
      expect(await Promise.all(uses())).toEqual(['NotFoundException', 'NotFoundException']);
      const aliases = await kms.client('auditor').send(new ListAliasesCommand({}));
      expect(aliases.Aliases?.map((a) => a.AliasName)).not.toContain('alias/consent-capture/e-shred');
    } finally {
      kms.clock.reset();
    }
  });
});

describe('key creation by the steward role', () => {
  it('refuses CreateKey without the app tag (identity policy condition)', async () => {
    const attempt = kms.client('steward').send(
      new CreateKeyCommand({ Policy: JSON.stringify(buildKeyPolicy({ employeeId: 'e-x', status: 'none', scopes: [] }, kms.roles)) }),
    );

    expect(await outcome(attempt)).toBe('AccessDeniedException');
  });

  it('refuses CreateKey with an extra tag key', async () => {
    const attempt = kms.client('steward').send(
      new CreateKeyCommand({
        Policy: JSON.stringify(buildKeyPolicy({ employeeId: 'e-x', status: 'none', scopes: [] }, kms.roles)),
        Tags: [
          { TagKey: 'app', TagValue: 'consent-capture' },
          { TagKey: 'owner', TagValue: 'someone' },
        ],
      }),
    );

    expect(await outcome(attempt)).toBe('AccessDeniedException');
  });

  it.each([
    ['Origin EXTERNAL (imported key material)', { Origin: 'EXTERNAL' as const }],
    ['Origin AWS_CLOUDHSM', { Origin: 'AWS_CLOUDHSM' as const }],
    ['MultiRegion true', { MultiRegion: true }],
    ['KeySpec HMAC_256', { KeySpec: 'HMAC_256' as const, KeyUsage: 'GENERATE_VERIFY_MAC' as const }],
  ])('refuses CreateKey with %s to the steward role, with AccessDenied from its identity policy', async (_label, shape) => {
    const attempt = kms.client('steward').send(
      new CreateKeyCommand({
        Policy: JSON.stringify(buildKeyPolicy({ employeeId: 'e-shape', status: 'none', scopes: [] }, kms.roles)),
        Tags: [
          { TagKey: 'app', TagValue: 'consent-capture' },
          { TagKey: 'employeeId', TagValue: 'e-shape' },
        ],
        ...shape,
      } as never),
    );

    expect(await outcome(attempt)).toBe('AccessDeniedException');
  });

  it('lets the administrator ask for a multi-Region key: the refusal above is IAM\'s, not the local KMS\'s', async () => {
    const attempt = kms.client('admin').send(new CreateKeyCommand({ MultiRegion: true }));

    expect(await outcome(attempt)).toBe('UnsupportedOperationException');
  });

  it('refuses CreateKey to the ingest role', async () => {
    expect(await outcome(kms.client('ingest').send(new CreateKeyCommand({ Tags: [{ TagKey: 'app', TagValue: 'consent-capture' }] })))).toBe(
      'AccessDeniedException',
    );
  });

  it('creates a tagged, aliased, rotating key whose policy is the builder output', async () => {
    const state = { employeeId: 'e-new', status: 'active', scopes: ['clicks'] } as const;
    const arn = await createEmployeeKey(kms, state);
    const steward = kms.client('steward');

    const policy = await steward.send(new GetKeyPolicyCommand({ KeyId: arn, PolicyName: 'default' }));
    // The steward role may not list tags (it never needs to): read them from the store.
    const tags = kms.kms.store.getKey(arn.split('/').pop() ?? '')?.tags;
    const rotation = await steward.send(new GetKeyRotationStatusCommand({ KeyId: arn }));

    expect(JSON.parse(policy.Policy ?? '{}')).toEqual(buildKeyPolicy(state, kms.roles));
    expect(await outcome(steward.send(new ListResourceTagsCommand({ KeyId: arn })))).toBe('AccessDeniedException');
    expect(tags).toEqual([
      { TagKey: 'app', TagValue: 'consent-capture' },
      { TagKey: 'employeeId', TagValue: 'e-new' },
    ]);
    expect(rotation.KeyRotationEnabled).toBe(true);
  });

  it('refuses a policy that would lock the caller out (lockout safety check)', async () => {
    const arn = await createEmployeeKey(kms, { employeeId: 'e-lock', status: 'none', scopes: [] });
    const withoutStewardship = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'OnlyPurge', Effect: 'Allow', Principal: { AWS: kms.roles.purge }, Action: 'kms:DescribeKey', Resource: '*' }],
    };

    const attempt = kms.client('steward').send(new PutKeyPolicyCommand({ KeyId: arn, Policy: JSON.stringify(withoutStewardship) }));

    expect(await outcome(attempt)).toBe('MalformedPolicyDocumentException');
  });

  it('refuses a policy naming a role that does not exist', async () => {
    const arn = await createEmployeeKey(kms, { employeeId: 'e-ghost', status: 'none', scopes: [] });
    const roles = { ...kms.roles, ingest: kms.roles.ingest.replace(/role\/.*/, 'role/ghost') };

    const attempt = kms.client('steward').send(
      new PutKeyPolicyCommand({ KeyId: arn, Policy: JSON.stringify(buildKeyPolicy({ employeeId: 'e-ghost', status: 'active', scopes: ['clicks'] }, roles)) }),
    );

    expect(await outcome(attempt)).toBe('MalformedPolicyDocumentException');
  });
});

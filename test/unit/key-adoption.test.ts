// Which keys found behind an employee alias are adopted: only one this application made exactly.
import type { KeyMetadata } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { adoptionVerdict, canonicalPolicy, samePolicy, type KeyFacts } from '../../lambdas/shared/key-adoption.js';
import { buildKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';

const ACCOUNT = '123456789012';
const roles: KeyPolicyRoles = {
  ingest: `arn:aws:iam::${ACCOUNT}:role/cc-ingest`,
  steward: `arn:aws:iam::${ACCOUNT}:role/cc-steward`,
  export: `arn:aws:iam::${ACCOUNT}:role/cc-export`,
  purge: `arn:aws:iam::${ACCOUNT}:role/cc-purge`,
};
const expected = buildKeyPolicy({ employeeId: 'e-1', status: 'none', scopes: [] }, roles);
const metadata: KeyMetadata = {
  KeyId: 'k',
  Arn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-4000-8000-000000000000`,
  KeyState: 'Enabled',
  KeyManager: 'CUSTOMER',
  Origin: 'AWS_KMS',
  MultiRegion: false,
  KeySpec: 'SYMMETRIC_DEFAULT',
  KeyUsage: 'ENCRYPT_DECRYPT',
};
const ours: KeyFacts = { metadata, grantCount: 0, policy: JSON.stringify(expected), rotationEnabled: true };

describe('adoptionVerdict', () => {
  it('adopts a key exactly as this application makes it', () => {
    expect(adoptionVerdict(ours, expected)).toEqual({ adopt: true, enableRotation: false });
  });

  it('adopts our own key left without rotation by a crash, and says to turn rotation on', () => {
    expect(adoptionVerdict({ ...ours, rotationEnabled: false }, expected)).toEqual({ adopt: true, enableRotation: true });
  });

  it.each<[string, Partial<KeyMetadata>, RegExp]>([
    ['pending deletion', { KeyState: 'PendingDeletion' }, /PendingDeletion/],
    ['disabled', { KeyState: 'Disabled' }, /Disabled/],
    ['pending import', { KeyState: 'PendingImport' }, /PendingImport/],
    ['AWS managed', { KeyManager: 'AWS' }, /customer managed/],
    ['imported key material', { Origin: 'EXTERNAL' }, /origin EXTERNAL/],
    ['in CloudHSM', { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1' }, /origin AWS_CLOUDHSM/],
    ['multi-Region', { MultiRegion: true }, /multi-Region/],
    ['of unknown Region scope', { MultiRegion: undefined }, /multi-Region/],
    ['in a custom key store', { CustomKeyStoreId: 'cks-1' }, /custom key store/],
    ['asymmetric', { KeySpec: 'RSA_2048' }, /key spec/],
    ['for signing', { KeyUsage: 'SIGN_VERIFY' }, /key usage/],
  ])('refuses a key that is %s', (_name, change, why) => {
    const verdict = adoptionVerdict({ ...ours, metadata: { ...metadata, ...change } }, expected);

    expect(verdict.adopt).toBe(false);
    expect(verdict.adopt ? '' : verdict.why).toMatch(why);
  });

  it('refuses a key with a grant', () => {
    expect(adoptionVerdict({ ...ours, grantCount: 1 }, expected)).toEqual({ adopt: false, why: 'it carries 1 grant(s)' });
  });

  it('refuses a policy that names only our roles but lets ingest generate data keys unconditioned and export decrypt', () => {
    // Arrange: the planted policy of the security review.
    const permissive = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'KeyStewardship', Effect: 'Allow', Principal: { AWS: roles.steward }, Action: ['kms:PutKeyPolicy', 'kms:GetKeyPolicy', 'kms:DescribeKey'], Resource: '*' },
        { Sid: 'Capture', Effect: 'Allow', Principal: { AWS: roles.ingest }, Action: 'kms:GenerateDataKey', Resource: '*' },
        { Sid: 'Export', Effect: 'Allow', Principal: { AWS: roles.export }, Action: 'kms:Decrypt', Resource: '*' },
      ],
    };

    // Act
    const verdict = adoptionVerdict({ ...ours, policy: JSON.stringify(permissive) }, expected);

    // Assert
    expect(verdict).toEqual({ adopt: false, why: 'its key policy is not the one this application writes for the consent state' });
  });

  it('refuses the policy of another consent state (an active policy where the ledger says none)', () => {
    const active = buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: ['clicks'] }, roles);

    expect(adoptionVerdict({ ...ours, policy: JSON.stringify(active) }, expected).adopt).toBe(false);
  });

  it('refuses the policy of another employee', () => {
    const other = buildKeyPolicy({ employeeId: 'e-2', status: 'none', scopes: [] }, roles);

    expect(adoptionVerdict({ ...ours, policy: JSON.stringify(other) }, expected).adopt).toBe(false);
  });

  it('refuses a policy that is not JSON', () => {
    expect(adoptionVerdict({ ...ours, policy: '{"Version":' }, expected).adopt).toBe(false);
  });
});

describe('canonicalPolicy', () => {
  it('reads whitespace, key order, statement order, set order and a string for a one-element list as the same policy', () => {
    // Arrange: our policy as KMS might hand it back, reformatted.
    const doc = JSON.parse(JSON.stringify(buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: ['clicks', 'keystrokes'] }, roles))) as {
      Statement: { Action: unknown; Condition?: Record<string, Record<string, unknown>> }[];
    };
    const reshaped = {
      Statement: [...doc.Statement].reverse().map((s) => {
        const action = Array.isArray(s.Action) ? [...(s.Action as string[])].reverse() : [s.Action];
        return Object.fromEntries(Object.entries({ ...s, Action: action }).reverse());
      }),
      Id: 'consent-capture/e-1',
      Version: '2012-10-17',
    };

    // Act + Assert
    expect(samePolicy(JSON.stringify(reshaped, null, 2), doc)).toBe(true);
  });

  it.each<[string, (d: Record<string, unknown>) => void]>([
    ['another Sid', (d) => ((d['Statement'] as Record<string, unknown>[])[0]!['Sid'] = 'Other')],
    ['another Id', (d) => (d['Id'] = 'x')],
    ['an extra action', (d) => ((d['Statement'] as Record<string, unknown>[])[0]!['Action'] = ['kms:*'])],
    ['a statement less', (d) => (d['Statement'] as unknown[]).pop()],
    ['a condition value in another case', (d) => {
      const c = (d['Statement'] as { Condition?: Record<string, Record<string, unknown>> }[])[1]!.Condition!;
      c['StringEquals']!['aws:RequestTag/erasure'] = 'Requested';
    }],
  ])('tells apart a policy with %s', (_name, change) => {
    const doc = JSON.parse(JSON.stringify(expected)) as Record<string, unknown>;
    change(doc);

    expect(canonicalPolicy(doc)).not.toBe(canonicalPolicy(expected));
  });
});

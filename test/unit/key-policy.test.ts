import { describe, expect, it } from 'vitest';
import {
  AUDITOR_ACTIONS,
  buildKeyPolicy,
  ERASURE_TAG,
  buildShreddedKeyPolicy,
  KeyPolicyInputError,
  SHREDDING_ACTIONS,
  STEWARDSHIP_ACTIONS,
  type KeyPolicyDocument,
  type KeyPolicyRoles,
} from '../../lambdas/shared/key-policy.js';
import { CONSENT_STATUSES } from '../../lambdas/shared/consent-model.js';

const ACCOUNT = '123456789012';
const roles: KeyPolicyRoles = {
  ingest: `arn:aws:iam::${ACCOUNT}:role/cc-ingest`,
  steward: `arn:aws:iam::${ACCOUNT}:role/cc-steward`,
  export: `arn:aws:iam::${ACCOUNT}:role/cc-export`,
  purge: `arn:aws:iam::${ACCOUNT}:role/cc-purge`,
};
const withAuditor: KeyPolicyRoles = { ...roles, auditor: `arn:aws:iam::${ACCOUNT}:role/cc-auditor` };
const UNTIL = '2026-12-01T10:00:00.000Z';

const sids = (doc: KeyPolicyDocument) => doc.Statement.map((s) => s.Sid);
const statement = (doc: KeyPolicyDocument, sid: string) => doc.Statement.find((s) => s.Sid === sid);

describe('buildKeyPolicy', () => {
  it('gives an active consent stewardship, the erasure tag, shredding, export grants, capture and the alias check, in that order', () => {
    // Act
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks', 'keystrokes'] }, roles);

    // Assert
    expect(doc.Version).toBe('2012-10-17');
    expect(sids(doc)).toEqual(['KeyStewardship', 'ErasureTag', 'Shredding', 'ExportGrants', 'CaptureWhileConsented', 'IngestFindsKey']);
  });

  it('lets the ingest role describe the key (to check the alias), and nothing else beyond capture', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, roles);

    const ingestActions = doc.Statement.filter((s) => s.Principal.AWS === roles.ingest).flatMap((s) => [s.Action].flat());

    expect(statement(doc, 'IngestFindsKey')).toEqual({ Sid: 'IngestFindsKey', Effect: 'Allow', Principal: { AWS: roles.ingest }, Action: 'kms:DescribeKey', Resource: '*' });
    expect(ingestActions.sort()).toEqual(['kms:DescribeKey', 'kms:GenerateDataKey']);
  });

  it('lets only the ingest role generate data keys, for this employee and the consented scopes', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks', 'keystrokes'] }, roles);

    const capture = statement(doc, 'CaptureWhileConsented');

    expect(capture).toMatchObject({
      Effect: 'Allow',
      Principal: { AWS: roles.ingest },
      Action: 'kms:GenerateDataKey',
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:EncryptionContext:employeeId': 'e-42', 'kms:EncryptionContext:scope': ['keystrokes', 'clicks'] },
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['employeeId', 'scope', 'batchId'] },
        Null: { 'kms:EncryptionContext:batchId': 'false' },
      },
    });
  });

  it('sorts and de-duplicates scopes so equal states give byte-identical policies', () => {
    const a = buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: ['app-focus', 'clicks', 'clicks'] }, roles);
    const b = buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: ['clicks', 'app-focus'] }, roles);

    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('adds a Deny that lapses at pausedUntil when paused, and keeps the capture statement', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'paused', scopes: ['clicks'], pausedUntil: '2026-12-01T12:00:00+02:00' }, roles);

    expect(sids(doc)).toEqual(['KeyStewardship', 'ErasureTag', 'Shredding', 'ExportGrants', 'CaptureWhileConsented', 'IngestFindsKey', 'Paused']);
    expect(statement(doc, 'Paused')).toEqual({
      Sid: 'Paused',
      Effect: 'Deny',
      Principal: { AWS: roles.ingest },
      Action: 'kms:GenerateDataKey*',
      Resource: '*',
      Condition: { DateLessThan: { 'aws:CurrentTime': UNTIL } },
    });
  });

  it('has no capture and no export grant statement when none: nothing was captured, so KMS refuses ingest and grants', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'none', scopes: [] }, roles);

    expect(sids(doc)).toEqual(['KeyStewardship', 'ErasureTag', 'Shredding']);
  });

  it('keeps only export grants when revoked: no capture, but the employee can still export', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'revoked', scopes: [] }, roles);

    expect(sids(doc)).toEqual(['KeyStewardship', 'ErasureTag', 'Shredding', 'ExportGrants']);
    expect(statement(doc, 'ExportGrants')).toEqual(statement(buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, roles), 'ExportGrants'));
  });

  it.each(['purging', 'purged'] as const)('returns the shredded policy when %s', (status) => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status, scopes: ['clicks'] }, withAuditor);

    expect(doc).toEqual(buildShreddedKeyPolicy('e-42', withAuditor));
    expect(sids(doc)).toEqual(['ShreddedReadOnly', 'Shredding', 'Auditors']);
  });

  it('leaves nobody a way to undo an erasure: no PutKeyPolicy, EnableKey, CancelKeyDeletion or grants', () => {
    const doc = buildShreddedKeyPolicy('e-42', withAuditor);

    const actions = doc.Statement.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => /PutKeyPolicy|EnableKey$|CancelKeyDeletion|CreateGrant|Decrypt|GenerateDataKey|Encrypt/.test(a))).toEqual([]);
    expect(statement(doc, 'ShreddedReadOnly')).toMatchObject({ Principal: { AWS: withAuditor.steward }, Action: ['kms:DescribeKey', 'kms:GetKeyPolicy'] });
  });

  it('limits export grants to Decrypt for the export role, retirable by it, constrained to this employee', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, roles);

    expect(statement(doc, 'ExportGrants')).toEqual({
      Sid: 'ExportGrants',
      Effect: 'Allow',
      Principal: { AWS: roles.steward },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: {
        'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt'] },
        StringEquals: {
          'kms:GranteePrincipal': roles.export,
          'kms:RetiringPrincipal': roles.export,
          'kms:GrantConstraintType': 'EncryptionContextSubset',
          'kms:EncryptionContext:employeeId': 'e-42',
        },
        Bool: { 'kms:GrantIsForAWSResource': 'false' },
      },
    });
  });

  it('opens Shredding only on a key tagged for erasure', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, roles);

    expect(statement(doc, 'Shredding')?.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/erasure': 'requested' } });
    expect(statement(buildShreddedKeyPolicy('e-42', roles), 'Shredding')?.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/erasure': 'requested' } });
  });

  it('lets only the steward role tag, and only with erasure=requested; nobody may untag', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, withAuditor);

    const tagging = doc.Statement.filter((s) => [s.Action].flat().some((a) => /Tag/.test(a) && a !== 'kms:ListResourceTags'));

    expect(ERASURE_TAG).toEqual({ key: 'erasure', value: 'requested' });
    expect(tagging).toEqual([
      {
        Sid: 'ErasureTag',
        Effect: 'Allow',
        Principal: { AWS: roles.steward },
        Action: 'kms:TagResource',
        Resource: '*',
        Condition: { StringEquals: { 'aws:RequestTag/erasure': 'requested' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['erasure'] } },
      },
    ]);
  });

  it('gives stewardship and shredding exactly their documented actions, and nothing cryptographic', () => {
    const doc = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, roles);

    expect(statement(doc, 'KeyStewardship')?.Action).toEqual([...STEWARDSHIP_ACTIONS]);
    expect(statement(doc, 'Shredding')?.Action).toEqual([...SHREDDING_ACTIONS]);
    const crypto = /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt)/;
    expect(STEWARDSHIP_ACTIONS.some((a) => crypto.test(a))).toBe(false);
    expect(SHREDDING_ACTIONS.some((a) => crypto.test(a))).toBe(false);
  });

  it('adds a read-only auditor statement only when an auditor role is given', () => {
    const without = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, roles);
    const withIt = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, withAuditor);

    expect(statement(without, 'Auditors')).toBeUndefined();
    expect(statement(withIt, 'Auditors')).toMatchObject({ Effect: 'Allow', Principal: { AWS: withAuditor.auditor }, Action: [...AUDITOR_ACTIONS] });
  });

  it.each(CONSENT_STATUSES)('never names the account root or a wildcard principal when %s', (status) => {
    const doc = buildKeyPolicy(
      { employeeId: 'e-42', status, scopes: ['clicks'], ...(status === 'paused' ? { pausedUntil: UNTIL } : {}) },
      withAuditor,
    );

    const principals = doc.Statement.flatMap((s) => [s.Principal.AWS].flat());
    expect(principals.every((p) => /:role\//.test(p))).toBe(true);
    expect(JSON.stringify(doc)).not.toContain(":root");
  });
});

describe('buildKeyPolicy input checks', () => {
  it('rejects a paused state without pausedUntil', () => {
    expect(() => buildKeyPolicy({ employeeId: 'e-1', status: 'paused', scopes: ['clicks'] }, roles)).toThrow(/needs pausedUntil/);
  });

  it('rejects a pausedUntil that is not an instant', () => {
    expect(() => buildKeyPolicy({ employeeId: 'e-1', status: 'paused', scopes: ['clicks'], pausedUntil: 'tomorrow' }, roles)).toThrow(
      KeyPolicyInputError,
    );
  });

  it('rejects an active consent with no scopes', () => {
    expect(() => buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: [] }, roles)).toThrow(/at least one scope/);
  });

  it('rejects unknown scopes, naming them', () => {
    expect(() => buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: ['screenshots' as never] }, roles)).toThrow(/screenshots/);
  });

  it.each(['', 'a'.repeat(65), 'e 42', 'e/42', 'e-42"', 'ø'])('rejects the employee id %j', (employeeId) => {
    expect(() => buildKeyPolicy({ employeeId, status: 'none', scopes: [] }, roles)).toThrow(KeyPolicyInputError);
  });

  it.each([
    ['the account root', `arn:aws:iam::${ACCOUNT}:root`],
    ['a wildcard', '*'],
    ['a user', `arn:aws:iam::${ACCOUNT}:user/alice`],
  ])('rejects %s as a role', (_label, arn) => {
    expect(() => buildKeyPolicy({ employeeId: 'e-1', status: 'none', scopes: [] }, { ...roles, ingest: arn })).toThrow(/must be an IAM role ARN/);
  });
});

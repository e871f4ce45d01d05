// Least privilege for the key-policy writer: what employee key policies and its identity
// statements allow it is exactly the KMS calls KeySteward makes, no more (EnableKey could undo a
// purge's DisableKey) and no less (a missing action fails first consent in AWS).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONSENT_STATUSES } from '../../lambdas/shared/consent-model.js';
import { buildKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { kmsIdentityStatements } from '../../lib/role-policies.js';

const ACCOUNT = '123456789012';
const roles: KeyPolicyRoles = {
  ingest: `arn:aws:iam::${ACCOUNT}:role/cc-ingest`,
  steward: `arn:aws:iam::${ACCOUNT}:role/cc-steward`,
  export: `arn:aws:iam::${ACCOUNT}:role/cc-export`,
  purge: `arn:aws:iam::${ACCOUNT}:role/cc-purge`,
};

/** `kms:X` for every `XCommand` KeySteward imports from the KMS client. */
function stewardCalls(): string[] {
  const source = readFileSync(new URL('../../lambdas/shared/key-steward.ts', import.meta.url), 'utf8');
  const imports = /import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-kms'/.exec(source)?.[1] ?? '';
  return [...imports.matchAll(/\b(\w+)Command\b/g)].map((m) => `kms:${m[1]}`).sort();
}

/** Every action any state's key policy allows the steward role, plus its identity statements. */
function stewardAllowed(): string[] {
  const fromKeys = CONSENT_STATUSES.flatMap((status) =>
    buildKeyPolicy({ employeeId: 'e-1', status, scopes: status === 'active' || status === 'paused' ? ['clicks'] : [], pausedUntil: '2030-01-01T00:00:00Z' }, roles)
      .Statement.filter((s) => s.Effect === 'Allow' && [s.Principal.AWS].flat().includes(roles.steward))
      .flatMap((s) => [s.Action].flat()),
  );
  const fromIdentity = kmsIdentityStatements('steward', { partition: 'aws', region: 'eu-west-1', account: ACCOUNT }).flatMap((s) => [s.Action ?? []].flat());
  return [...new Set([...fromKeys, ...fromIdentity])].sort();
}

describe('the key-policy writer\'s KMS permissions', () => {
  it('are exactly the calls KeySteward makes', () => {
    expect(stewardCalls().length).toBeGreaterThan(5);
    expect(stewardAllowed()).toEqual(stewardCalls());
  });

  it('never include EnableKey, CancelKeyDeletion, ListAliases or ListResourceTags', () => {
    for (const action of ['kms:EnableKey', 'kms:CancelKeyDeletion', 'kms:ListAliases', 'kms:ListResourceTags']) expect(stewardAllowed()).not.toContain(action);
  });
});

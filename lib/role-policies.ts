// The KMS statements of each function role's identity policy, which the CDK stack attaches. The
// local stack reads them back from the synthesized template, so both enforce the same permissions.
// Employee keys are created at run time, so these are scoped by request tag and alias name rather
// than by ARN. None grants a cryptographic action: employee key policies alone do that.
import { ALIAS_PREFIX, APP_TAG } from '../contract/app.js';
import type { IdentityStatement, RoleName } from '../contract/roles.js';

export type { IdentityPolicy, IdentityStatement } from '../contract/roles.js';

export interface RolePolicyScope {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** KMS identity statements per function role. Roles with none get an empty list. */
export function kmsIdentityStatements(role: RoleName, scope: RolePolicyScope): IdentityStatement[] {
  // policy-watch learns whose key a PutKeyPolicy changed from the key's alias; ListAliases has no
  // resource to scope to, and lists names only.
  if (role === 'policy-watch') return [{ Sid: 'FindEmployeeOfKey', Effect: 'Allow', Action: 'kms:ListAliases', Resource: '*' }];
  // Only the key steward writes employee keys; the HTTP-facing consent role has no KMS permission.
  if (role !== 'steward') return [];
  const aliasArn = `arn:${scope.partition}:kms:${scope.region}:${scope.account}:${ALIAS_PREFIX}*`;
  return [
    {
      // CreateKey has no key yet, so only an identity policy can allow it. The request tag keeps
      // the steward from minting keys for anything but employees' consent, and the key's shape is
      // pinned to what KeySteward creates: a symmetric key whose material KMS made, in one
      // Region. An EXTERNAL key could be made unusable (or usable) by whoever holds the imported
      // material, and a multi-Region key could be replicated out of reach of the purge.
      Sid: 'CreateEmployeeKeys',
      Effect: 'Allow',
      Action: 'kms:CreateKey',
      Resource: '*',
      Condition: {
        StringEquals: {
          [`aws:RequestTag/${APP_TAG.key}`]: APP_TAG.value,
          'kms:KeySpec': 'SYMMETRIC_DEFAULT',
          'kms:KeyOrigin': 'AWS_KMS',
        },
        Bool: { 'kms:MultiRegion': 'false' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [APP_TAG.key, 'employeeId'] },
      },
    },
    {
      // CreateKey with Tags also needs TagResource from an identity policy (the key does not
      // exist yet); the same request-tag conditions bound it.
      Sid: 'TagNewEmployeeKeys',
      Effect: 'Allow',
      Action: 'kms:TagResource',
      Resource: '*',
      Condition: {
        StringEquals: { [`aws:RequestTag/${APP_TAG.key}`]: APP_TAG.value },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [APP_TAG.key, 'employeeId'] },
      },
    },
    {
      // CreateAlias is checked on the alias as well as on the key; the alias side lives here.
      Sid: 'NameEmployeeKeys',
      Effect: 'Allow',
      Action: 'kms:CreateAlias',
      Resource: aliasArn,
    },
  ];
}

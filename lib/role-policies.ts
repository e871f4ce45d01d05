// The KMS statements of each function role's identity policy. The CDK stack attaches these, and
// the local stack gives them to its principals, so both enforce the same permissions.
// Employee keys are created at run time, so these are scoped by request tag and alias name rather
// than by ARN. None grants a cryptographic action: employee key policies alone do that.

export interface IdentityStatement {
  readonly Sid: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface IdentityPolicy {
  readonly Version: '2012-10-17';
  readonly Statement: readonly IdentityStatement[];
}

export const APP_TAG = { key: 'app', value: 'consent-capture' } as const;
export const ALIAS_PREFIX = 'alias/consent-capture/';

export type FunctionRole = 'ingest' | 'consent' | 'export' | 'purge';

export interface RolePolicyScope {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** KMS identity statements per function role. Roles with none get an empty list. */
export function kmsIdentityStatements(role: FunctionRole, scope: RolePolicyScope): IdentityStatement[] {
  if (role !== 'consent') return [];
  const aliasArn = `arn:${scope.partition}:kms:${scope.region}:${scope.account}:${ALIAS_PREFIX}*`;
  return [
    {
      // CreateKey has no key yet, so only an identity policy can allow it. The request tag keeps
      // this role from minting keys for anything but employees' consent.
      Sid: 'CreateEmployeeKeys',
      Effect: 'Allow',
      Action: ['kms:CreateKey', 'kms:TagResource'],
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
    {
      Sid: 'FindEmployeeKeys',
      Effect: 'Allow',
      Action: 'kms:ListAliases',
      Resource: '*',
    },
  ];
}

/** AWS's managed AdministratorAccess policy, for the local `admin` principal. */
export const ADMINISTRATOR_ACCESS: IdentityPolicy = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'AdministratorAccess', Effect: 'Allow', Action: '*', Resource: '*' }],
};

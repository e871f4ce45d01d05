// The application's IAM roles: one execution role per function (employee key policies name them),
// plus the two principals the local stack adds for people, `admin` and `auditor`.

export interface RoleDeclaration {
  /** The construct id of the role in the CDK app (a contract: renaming it replaces the role). */
  readonly constructId: string;
  readonly description: string;
  /**
   * Who may assume it. `lambda`: its function. `training`: the training platform's principal
   * from CDK context (a SageMaker execution role, say); locally, a principal of its own.
   * @default 'lambda'
   */
  readonly assumedBy?: 'lambda' | 'training';
}

/** Function roles. Employee key policies name most of them (not consent, datasets or policy-watch), so they exist before their functions do. */
export const ROLES = {
  ingest: { constructId: 'Ingest', description: 'Writes consented captures; GenerateDataKey only as employee key policies allow.' },
  consent: { constructId: 'Consent', description: 'Records consent changes in the ledger; asks the key steward to enforce them. No KMS write.' },
  export: { constructId: 'Export', description: 'Decrypts one employee\'s captures through a one-off grant.' },
  purge: { constructId: 'Purge', description: 'Crypto-shreds employee keys and deletes their objects.' },
  steward: { constructId: 'KeySteward', description: 'The only writer of employee keys: creates them and writes their policies, tags and grants from the newest ledger event.' },
  datasets: { constructId: 'Datasets', description: 'Builds dataset manifests and cards from consented captures; asks the key steward for training grants; sweeps expired datasets.' },
  training: {
    constructId: 'Training',
    description: 'Assumed by training jobs: reads dataset manifests and capture objects; decrypts only through per-employee, per-scope grants. No standing Decrypt.',
    assumedBy: 'training',
  },
  'policy-watch': {
    constructId: 'PolicyWatch',
    description: 'Compares every employee key policy written (a CloudTrail PutKeyPolicy) with the ledger; alarms on drift and queues a repair. No KMS write.',
  },
} as const satisfies Record<string, RoleDeclaration>;

export type RoleName = keyof typeof ROLES;
export const ROLE_NAMES = Object.keys(ROLES) as RoleName[];

/** IAM's limit on a role name, and its characters. */
export const MAX_ROLE_NAME_LENGTH = 64;
export const ROLE_NAME_PATTERN = /^[\w+=,.@-]+$/;

/**
 * A role's fixed name in AWS: `<prefix>-<role>`, the prefix being the deployment's (CDK context
 * `rolePrefix`). Employee key policies name these ARNs, so the name must never depend on a
 * construct path: a role replaced under the same name keeps the ARN the key policies hold (KMS
 * still has to be told again, see the runbook), a generated name would not even do that.
 */
export function roleNameFor(prefix: string, role: RoleName | typeof AUDITOR_ROLE_NAME): string {
  return `${prefix}-${role}`;
}

/**
 * The compliance auditor: a role for people (assumed from this account), not a function. It reads
 * the trail through Athena and the ledger by Query and GetItem; the audit key's policy names it.
 * Locally it is the `auditor` principal, with the same identity policy read from the template.
 */
export const AUDITOR_ROLE_NAME = 'auditor';
export const AUDITOR_ROLE: RoleDeclaration = {
  constructId: 'Auditor',
  description: 'Compliance auditor: Athena queries over the CloudTrail trail, and Query and GetItem on the consent ledger. Read only.',
};

/** Principals the local stack makes: the function roles, an administrator and a compliance auditor. */
export const PRINCIPAL_NAMES = [...(ROLE_NAMES as readonly RoleName[]), 'admin', 'auditor'] as const;
export type PrincipalName = RoleName | 'admin' | 'auditor';

export interface IdentityStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | boolean | readonly string[]>>>>;
}

export interface IdentityPolicy {
  readonly Version: '2012-10-17';
  readonly Statement: readonly IdentityStatement[];
}

/** AWS's managed AdministratorAccess policy: the local `admin` principal's. */
export const ADMINISTRATOR_ACCESS: IdentityPolicy = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'AdministratorAccess', Effect: 'Allow', Action: '*', Resource: '*' }],
};

/**
 * The compliance auditor's identity policy: it may find keys. What it may read of a key (its
 * policy, grants, metadata) is the key policy's `Auditors` statement to give, never IAM's.
 */
export const AUDITOR_READ_ONLY: IdentityPolicy = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'FindKeys', Effect: 'Allow', Action: ['kms:ListAliases', 'kms:ListKeys'], Resource: '*' }],
};

// The local stack's IAM principals: one role per function plus `admin` and `auditor`, each with
// SigV4 credentials and the identity policies the CDK app gives that role in AWS.
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ADMINISTRATOR_ACCESS, kmsIdentityStatements, type FunctionRole, type IdentityPolicy, type IdentityStatement } from '../lib/role-policies.js';
import { LOCAL_RESOURCES } from './resources.js';

export const PRINCIPAL_NAMES = ['ingest', 'consent', 'export', 'purge', 'admin', 'auditor'] as const;
export type PrincipalName = (typeof PRINCIPAL_NAMES)[number];

export interface PrincipalCredentials {
  readonly arn: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface LocalPrincipal extends PrincipalCredentials {
  readonly name: PrincipalName;
  readonly roleName: string;
  /** The STS session ARN that AWS would show for this role's Lambda. */
  readonly sessionArn: string;
  /** AROA… id, as in CloudTrail's principalId. */
  readonly roleId: string;
  readonly accountId: string;
  readonly identityPolicies: readonly IdentityPolicy[];
}

export interface LocalIdentity {
  readonly account: string;
  readonly region: string;
  readonly principals: Readonly<Record<PrincipalName, LocalPrincipal>>;
}

interface PersistedIdentity {
  readonly account: string;
  readonly region: string;
  readonly credentials: Record<PrincipalName, { accessKeyId: string; secretAccessKey: string; roleId: string }>;
}

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomId(prefix: string, length: number): string {
  let id = prefix;
  while (id.length < length) id += ALPHANUM[randomInt(ALPHANUM.length)];
  return id;
}

export function roleNameOf(name: PrincipalName): string {
  return `consent-capture-${name}`;
}

function identityPoliciesOf(name: PrincipalName, account: string, region: string): IdentityPolicy[] {
  if (name === 'admin') return [ADMINISTRATOR_ACCESS];
  if (name === 'auditor') {
    return [{ Version: '2012-10-17', Statement: [{ Sid: 'FindKeys', Effect: 'Allow', Action: ['kms:ListAliases', 'kms:ListKeys'], Resource: '*' }] }];
  }
  const statements = [...kmsIdentityStatements(name satisfies FunctionRole, { partition: 'aws', region, account }), ...dataGrantsOf(name, account, region)];
  return statements.length === 0 ? [] : [{ Version: '2012-10-17', Statement: statements }];
}

/**
 * TEMPORARY until identity policies come from the synthesized template: what the CDK stack's
 * grants give each role on tables, buckets and queues today (lib/consent-capture-stack.ts and
 * lib/constructs/*: grantAppend, grantRead, grantReadWriteData, grantCaptureWrites, grantPurge,
 * grantSendMessages, and the SQS event sources' consume grants), copied action for action.
 * CloudWatch Logs and X-Ray grants are left out: nothing local serves them.
 */
function dataGrantsOf(name: FunctionRole, account: string, region: string): IdentityStatement[] {
  const { tables, buckets, queues } = LOCAL_RESOURCES;
  const table = (t: string): string => `arn:aws:dynamodb:${region}:${account}:table/${t}`;
  const queue = (q: string): string => `arn:aws:sqs:${region}:${account}:${q}`;
  const bucket = (b: string): string => `arn:aws:s3:::${b}`;
  const ledgerRead = ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query'];
  const ledgerAppend = ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query'];
  const send = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
  const consume = ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'];
  const allow = (Sid: string, Action: string[], Resource: string | string[], Condition?: IdentityStatement['Condition']): IdentityStatement => ({
    Sid,
    Effect: 'Allow',
    Action,
    Resource,
    ...(Condition === undefined ? {} : { Condition }),
  });
  switch (name) {
    case 'ingest':
      return [
        allow('LedgerRead', ledgerRead, table(tables.ledger)),
        allow('BatchesReadWrite', [
          'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem',
          'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:UpdateItem',
        ], table(tables.batches)),
        allow('CaptureWrites', ['s3:Abort*', 's3:PutObject', 's3:PutObjectLegalHold', 's3:PutObjectRetention', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'], `${bucket(buckets.captures)}/captures/*`),
      ];
    case 'consent':
      return [
        allow('LedgerAppend', ledgerAppend, table(tables.ledger)),
        allow('SendJobs', send, [queue(queues.keySync), queue(queues.purge)]),
        allow('ConsumeKeySync', consume, queue(queues.keySync)),
      ];
    case 'purge':
      return [
        allow('LedgerAppend', ledgerAppend, table(tables.ledger)),
        allow('PurgeQueue', [...consume, 'sqs:SendMessage'], queue(queues.purge)),
        allow('ListCaptures', ['s3:ListBucket'], bucket(buckets.captures), { StringLike: { 's3:prefix': ['captures/*'] } }),
        allow('DeleteObjects', ['s3:DeleteObject'], [`${bucket(buckets.captures)}/captures/*`, `${bucket(buckets.exports)}/exports/*`]),
        allow('ListExports', ['s3:ListBucket'], bucket(buckets.exports), { StringLike: { 's3:prefix': ['exports/*'] } }),
      ];
    case 'export':
      return [];
  }
}

function materialise(persisted: PersistedIdentity): LocalIdentity {
  const { account, region } = persisted;
  const entries = PRINCIPAL_NAMES.map((name): [PrincipalName, LocalPrincipal] => {
    const creds = persisted.credentials[name];
    const roleName = roleNameOf(name);
    return [
      name,
      {
        name,
        roleName,
        arn: `arn:aws:iam::${account}:role/${roleName}`,
        sessionArn: `arn:aws:sts::${account}:assumed-role/${roleName}/${roleName}-session`,
        roleId: creds.roleId,
        accountId: account,
        accessKeyId: creds.accessKeyId,
        secretAccessKey: creds.secretAccessKey,
        identityPolicies: identityPoliciesOf(name, account, region),
      },
    ];
  });
  return { account, region, principals: Object.fromEntries(entries) as Record<PrincipalName, LocalPrincipal> };
}

function generate(region: string): PersistedIdentity {
  // A random account per local state, so nothing can depend on a hard-coded account id.
  const account = String(randomInt(100_000_000_000, 999_999_999_999));
  const credentials = Object.fromEntries(
    PRINCIPAL_NAMES.map((name) => [
      name,
      { accessKeyId: randomId('ASIA', 20), secretAccessKey: randomBytes(30).toString('base64'), roleId: randomId('AROA', 21) },
    ]),
  ) as PersistedIdentity['credentials'];
  return { account, region, credentials };
}

/** Loads the principals kept at `file`, creating them (mode 0600) on first use. */
export function loadOrCreateIdentity(file: string, region = 'us-east-1'): LocalIdentity {
  if (existsSync(file)) {
    return materialise(JSON.parse(readFileSync(file, 'utf8')) as PersistedIdentity);
  }
  const persisted = generate(region);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(persisted, null, 2), { mode: 0o600 });
  return materialise(persisted);
}

// The local stack's names for the contract's resources; in AWS, CloudFormation names them.
import { APP_NAME } from '../contract/app.js';
import type { FunctionName } from '../contract/functions.js';
import type { QueueName } from '../contract/queues.js';
import type { BucketName, TableName } from '../contract/resources.js';
import type { PrincipalName } from '../contract/roles.js';

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const localTableName = (name: TableName): string => `${APP_NAME}-${kebab(name)}`;
export const localBucketName = (name: BucketName): string => `${APP_NAME}-${name}`;
export const localQueueName = (name: QueueName): string => `${APP_NAME}-${kebab(name)}`;
export const localFunctionName = (name: FunctionName): string => `${APP_NAME}-${name}`;
export const localRoleName = (name: PrincipalName): string => `${APP_NAME}-${name}`;

/** The audit trail's buckets (AWS only). */
export type AuditBucketName = 'trail' | 'results';
/** Names no local bucket has: the local trail is files, so the auditor's S3 grants reach nothing locally. */
export const localAuditBucketName = (name: AuditBucketName): string => `${APP_NAME}-audit-${name}`;

/** Resource names of the local stack, by the contract's names. */
export const LOCAL_RESOURCES = {
  buckets: { captures: localBucketName('captures'), exports: localBucketName('exports') },
  tables: { ledger: localTableName('ledger'), batches: localTableName('batches'), exportJobs: localTableName('exportJobs'), datasets: localTableName('datasets') },
  queues: {
    purge: localQueueName('purge'),
    keySync: localQueueName('keySync'),
    export: localQueueName('export'),
    datasets: localQueueName('datasets'),
    policyWatch: localQueueName('policyWatch'),
  },
} as const satisfies {
  buckets: Record<BucketName, string>;
  tables: Record<TableName, string>;
  queues: Record<QueueName, string>;
};

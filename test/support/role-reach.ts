// Every role's reach on the local stack's buckets, tables and queues, as one table of
// principal × action × resource → expected decision. test/integration/local-iam.test.ts performs
// each row through the real SDK clients; the same rows can be checked against any set of identity
// policies (e.g. those read from the synthesized template) with `accessOf` and the evaluator.
import type { PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES } from '../../local/resource-names.js';

export type Decision = 'allow' | 'deny';

/** Symbolic resources, so a row reads like a policy: `captures:captures/e/x`, `table:ledger`, `queue:purge`. */
export type ReachResource =
  | `captures:${string}`
  | `exports:${string}`
  | `table:${keyof typeof LOCAL_RESOURCES.tables}`
  | `queue:${keyof typeof LOCAL_RESOURCES.queues}`;

export interface ReachRow {
  readonly principal: PrincipalName;
  /** The SDK call, named by the IAM action it needs (`s3:ListBucket` takes `prefix`). */
  readonly action:
    | 's3:PutObject'
    | 's3:GetObject'
    | 's3:HeadObject'
    | 's3:DeleteObject'
    | 's3:DeleteObjects'
    | 's3:ListBucket'
    | 'dynamodb:GetItem'
    | 'dynamodb:Query'
    | 'dynamodb:PutItem'
    | 'dynamodb:UpdateItem'
    | 'dynamodb:DeleteItem'
    | 'dynamodb:Scan'
    | 'dynamodb:BatchWriteItem'
    | 'sqs:SendMessage'
    | 'sqs:GetQueueUrl'
    | 'sqs:GetQueueAttributes';
  readonly resource: ReachResource;
  /** For s3:ListBucket: the listing's prefix (absent: none). */
  readonly prefix?: string;
  readonly expect: Decision;
}

const row = (principal: PrincipalName, action: ReachRow['action'], resource: ReachResource, expect: Decision, prefix?: string): ReachRow => ({
  principal,
  action,
  resource,
  expect,
  ...(prefix === undefined ? {} : { prefix }),
});

/** What the CDK app grants each role today (lib/consent-capture-stack.ts), and what it does not. */
export const ROLE_REACH: readonly ReachRow[] = [
  // ingest: writes captures under captures/, reads the ledger by Query and GetItem, owns its batch claims.
  row('ingest', 's3:PutObject', 'captures:captures/e-reach/clicks/b-ingest', 'allow'),
  row('ingest', 's3:PutObject', 'captures:elsewhere/b-ingest', 'deny'),
  row('ingest', 's3:PutObject', 'exports:exports/e-reach/x', 'deny'),
  row('ingest', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('ingest', 's3:HeadObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('ingest', 's3:DeleteObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('ingest', 's3:DeleteObjects', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('ingest', 's3:ListBucket', 'captures:', 'deny', 'captures/'),
  row('ingest', 'dynamodb:Query', 'table:ledger', 'allow'),
  row('ingest', 'dynamodb:GetItem', 'table:ledger', 'allow'),
  row('ingest', 'dynamodb:PutItem', 'table:ledger', 'deny'),
  row('ingest', 'dynamodb:UpdateItem', 'table:ledger', 'deny'),
  row('ingest', 'dynamodb:DeleteItem', 'table:ledger', 'deny'),
  row('ingest', 'dynamodb:Scan', 'table:ledger', 'deny'),
  row('ingest', 'dynamodb:BatchWriteItem', 'table:ledger', 'deny'),
  row('ingest', 'dynamodb:PutItem', 'table:batches', 'allow'),
  row('ingest', 'dynamodb:DeleteItem', 'table:batches', 'allow'),
  row('ingest', 'sqs:SendMessage', 'queue:purge', 'deny'),
  row('ingest', 'sqs:GetQueueUrl', 'queue:purge', 'deny'),
  // consent: appends to the ledger (PutItem only), queues purge and key-sync jobs.
  row('consent', 'dynamodb:PutItem', 'table:ledger', 'allow'),
  row('consent', 'dynamodb:Query', 'table:ledger', 'allow'),
  row('consent', 'dynamodb:GetItem', 'table:ledger', 'allow'),
  row('consent', 'dynamodb:DeleteItem', 'table:ledger', 'deny'),
  row('consent', 'dynamodb:UpdateItem', 'table:ledger', 'deny'),
  row('consent', 'dynamodb:BatchWriteItem', 'table:ledger', 'deny'),
  // Scan: a dataset request counts the employees consenting now (state items) before it is queued.
  row('consent', 'dynamodb:Scan', 'table:ledger', 'allow'),
  row('consent', 'dynamodb:GetItem', 'table:batches', 'deny'),
  row('consent', 'sqs:SendMessage', 'queue:purge', 'allow'),
  row('consent', 'sqs:SendMessage', 'queue:keySync', 'allow'),
  row('consent', 'sqs:GetQueueUrl', 'queue:purge', 'allow'),
  row('consent', 'sqs:GetQueueAttributes', 'queue:keySync', 'allow'),
  row('consent', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('consent', 's3:PutObject', 'captures:captures/e-reach/clicks/b-consent', 'deny'),
  // consent, for exports: creates and reads export jobs, signs download URLs (GetObject under exports/ only).
  row('consent', 'dynamodb:PutItem', 'table:exportJobs', 'allow'),
  row('consent', 'dynamodb:DeleteItem', 'table:exportJobs', 'deny'),
  row('consent', 's3:GetObject', 'exports:exports/e-reach/seed', 'allow'),
  row('consent', 's3:PutObject', 'exports:exports/e-reach/b-consent', 'deny'),
  row('consent', 's3:ListBucket', 'exports:', 'deny', 'exports/'),
  row('consent', 'sqs:SendMessage', 'queue:export', 'allow'),
  // purge: lists and deletes under captures/ and exports/, appends to the ledger, re-queues itself.
  row('purge', 's3:ListBucket', 'captures:', 'allow', 'captures/e-reach/'),
  row('purge', 's3:ListBucket', 'captures:', 'deny'),
  row('purge', 's3:ListBucket', 'captures:', 'deny', 'elsewhere/'),
  row('purge', 's3:ListBucket', 'exports:', 'allow', 'exports/e-reach/'),
  row('purge', 's3:DeleteObject', 'captures:captures/e-reach/clicks/purge-one', 'allow'),
  row('purge', 's3:DeleteObjects', 'captures:captures/e-reach/clicks/purge-two', 'allow'),
  row('purge', 's3:DeleteObject', 'exports:exports/e-reach/purge-three', 'allow'),
  row('purge', 's3:DeleteObject', 'captures:elsewhere/seed', 'deny'),
  row('purge', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('purge', 's3:PutObject', 'captures:captures/e-reach/clicks/b-purge', 'deny'),
  row('purge', 'dynamodb:PutItem', 'table:ledger', 'allow'),
  row('purge', 'dynamodb:DeleteItem', 'table:ledger', 'deny'),
  row('purge', 'sqs:SendMessage', 'queue:purge', 'allow'),
  row('purge', 'sqs:SendMessage', 'queue:keySync', 'deny'),
  // export: lists and reads captures (ciphertext), writes export files, reads the ledger and
  // appends export-ready, moves its job's status; never reads exports back or deletes anything.
  row('export', 's3:ListBucket', 'captures:', 'allow', 'captures/e-reach/'),
  row('export', 's3:ListBucket', 'captures:', 'deny', 'elsewhere/'),
  row('export', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'allow'),
  row('export', 's3:PutObject', 'captures:captures/e-reach/clicks/b-export', 'deny'),
  row('export', 's3:DeleteObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('export', 's3:PutObject', 'exports:exports/e-reach/x-export.jsonl.gz', 'allow'),
  row('export', 's3:GetObject', 'exports:exports/e-reach/seed', 'deny'),
  row('export', 'dynamodb:Query', 'table:ledger', 'allow'),
  row('export', 'dynamodb:PutItem', 'table:ledger', 'allow'),
  row('export', 'dynamodb:UpdateItem', 'table:ledger', 'deny'),
  row('export', 'dynamodb:UpdateItem', 'table:exportJobs', 'allow'),
  row('export', 'dynamodb:PutItem', 'table:exportJobs', 'deny'),
  row('export', 'sqs:SendMessage', 'queue:export', 'deny'),
  // consent, for datasets: records a request, reads it, lists an employee's memberships, queues the build.
  row('consent', 'dynamodb:PutItem', 'table:datasets', 'allow'),
  row('consent', 'dynamodb:Query', 'table:datasets', 'allow'),
  row('consent', 'dynamodb:UpdateItem', 'table:datasets', 'deny'),
  row('consent', 'dynamodb:DeleteItem', 'table:datasets', 'deny'),
  row('consent', 'sqs:SendMessage', 'queue:datasets', 'allow'),
  row('consent', 's3:GetObject', 'exports:datasets/d-reach/manifest.jsonl', 'deny'),
  // datasets: lists and heads captures (ciphertext, never decrypted here), reads the ledger, writes
  // manifests and cards under datasets/ only, moves dataset statuses; no delete, no ledger write.
  row('datasets', 's3:ListBucket', 'captures:', 'allow', 'captures/'),
  row('datasets', 's3:ListBucket', 'captures:', 'deny', 'elsewhere/'),
  row('datasets', 's3:HeadObject', 'captures:captures/e-reach/clicks/seed', 'allow'),
  row('datasets', 's3:PutObject', 'captures:captures/e-reach/clicks/b-datasets', 'deny'),
  row('datasets', 's3:DeleteObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('datasets', 's3:PutObject', 'exports:datasets/d-reach/card.json', 'allow'),
  row('datasets', 's3:PutObject', 'exports:exports/e-reach/x-datasets', 'deny'),
  row('datasets', 's3:GetObject', 'exports:exports/e-reach/seed', 'deny'),
  row('datasets', 'dynamodb:Query', 'table:ledger', 'allow'),
  row('datasets', 'dynamodb:PutItem', 'table:ledger', 'deny'),
  row('datasets', 'dynamodb:Scan', 'table:ledger', 'deny'),
  row('datasets', 'dynamodb:UpdateItem', 'table:datasets', 'allow'),
  row('datasets', 'dynamodb:Scan', 'table:datasets', 'allow'),
  row('datasets', 'dynamodb:DeleteItem', 'table:datasets', 'deny'),
  row('datasets', 'dynamodb:GetItem', 'table:exportJobs', 'deny'),
  row('datasets', 'sqs:SendMessage', 'queue:datasets', 'deny'),
  row('datasets', 'sqs:SendMessage', 'queue:purge', 'deny'),
  // steward: reads the dataset a training grant is asked for, nothing more of the datasets table.
  row('steward', 'dynamodb:GetItem', 'table:datasets', 'allow'),
  row('steward', 'dynamodb:PutItem', 'table:datasets', 'deny'),
  row('steward', 'dynamodb:UpdateItem', 'table:datasets', 'deny'),
  row('steward', 'dynamodb:Scan', 'table:datasets', 'deny'),
  // steward (the export sweep, in key-sync): finds unfinished export jobs and marks expired ones
  // failed; it creates, deletes and reads one by key nothing there.
  row('steward', 'dynamodb:Scan', 'table:exportJobs', 'allow'),
  row('steward', 'dynamodb:UpdateItem', 'table:exportJobs', 'allow'),
  row('steward', 'dynamodb:PutItem', 'table:exportJobs', 'deny'),
  row('steward', 'dynamodb:DeleteItem', 'table:exportJobs', 'deny'),
  // training: reads manifests and the capture objects they list (ciphertext: only grants decrypt);
  // never lists, writes or deletes, never reads exports or any table or queue.
  row('training', 's3:GetObject', 'exports:datasets/d-reach/manifest.jsonl', 'allow'),
  row('training', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'allow'),
  row('training', 's3:GetObject', 'exports:exports/e-reach/seed', 'deny'),
  row('training', 's3:ListBucket', 'captures:', 'deny', 'captures/'),
  row('training', 's3:PutObject', 'exports:datasets/d-reach/manifest.jsonl', 'deny'),
  row('training', 's3:PutObject', 'captures:captures/e-reach/clicks/b-training', 'deny'),
  row('training', 's3:DeleteObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('training', 'dynamodb:Query', 'table:ledger', 'deny'),
  row('training', 'dynamodb:GetItem', 'table:datasets', 'deny'),
  row('training', 'sqs:SendMessage', 'queue:datasets', 'deny'),
  // auditor: the ledger by Query and GetItem, read only; nothing else of the data (the trail it
  // reads through Athena has no local bucket).
  row('auditor', 'dynamodb:Query', 'table:ledger', 'allow'),
  row('auditor', 'dynamodb:GetItem', 'table:ledger', 'allow'),
  row('auditor', 'dynamodb:PutItem', 'table:ledger', 'deny'),
  row('auditor', 'dynamodb:UpdateItem', 'table:ledger', 'deny'),
  row('auditor', 'dynamodb:DeleteItem', 'table:ledger', 'deny'),
  row('auditor', 'dynamodb:Scan', 'table:ledger', 'deny'),
  row('auditor', 'dynamodb:GetItem', 'table:batches', 'deny'),
  row('auditor', 'dynamodb:Query', 'table:exportJobs', 'deny'),
  row('auditor', 's3:ListBucket', 'captures:', 'deny', 'captures/'),
  row('auditor', 's3:GetObject', 'exports:exports/e-reach/seed', 'deny'),
  row('auditor', 'dynamodb:Query', 'table:datasets', 'deny'),
  row('auditor', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  row('auditor', 'sqs:SendMessage', 'queue:purge', 'deny'),
  // policy-watch: reads the ledger, queues key-sync repairs; writes nothing else.
  row('policy-watch', 'dynamodb:Query', 'table:ledger', 'allow'),
  row('policy-watch', 'dynamodb:PutItem', 'table:ledger', 'deny'),
  row('policy-watch', 'sqs:SendMessage', 'queue:keySync', 'allow'),
  row('policy-watch', 'sqs:SendMessage', 'queue:purge', 'deny'),
  row('policy-watch', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'deny'),
  // admin: AdministratorAccess reaches everything here.
  row('admin', 's3:GetObject', 'captures:captures/e-reach/clicks/seed', 'allow'),
  row('admin', 's3:ListBucket', 'captures:', 'allow'),
  row('admin', 's3:DeleteObject', 'captures:captures/e-reach/clicks/admin-one', 'allow'),
  row('admin', 'dynamodb:Scan', 'table:ledger', 'allow'),
  row('admin', 'dynamodb:DeleteItem', 'table:ledger', 'allow'),
  row('admin', 'sqs:SendMessage', 'queue:keySync', 'allow'),
];

/** A row's bucket and key, table or queue by name. */
export function targetOf(resource: ReachResource): { kind: 'bucket'; bucket: string; key: string } | { kind: 'table'; table: string } | { kind: 'queue'; queue: string } {
  const colon = resource.indexOf(':');
  const scope = resource.slice(0, colon);
  const rest = resource.slice(colon + 1);
  if (scope === 'captures' || scope === 'exports') return { kind: 'bucket', bucket: LOCAL_RESOURCES.buckets[scope], key: rest };
  if (scope === 'table') return { kind: 'table', table: LOCAL_RESOURCES.tables[rest as keyof typeof LOCAL_RESOURCES.tables] };
  return { kind: 'queue', queue: LOCAL_RESOURCES.queues[rest as keyof typeof LOCAL_RESOURCES.queues] };
}

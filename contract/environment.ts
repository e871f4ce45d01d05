// Names of the environment variables the functions read at module load. The CDK app and the
// local stack both set them from the function declarations in functions.ts.

export const ENV = {
  /** DynamoDB table holding the consent ledger (pk = employeeId, sk = "event#…" | "state"). */
  ledgerTable: 'LEDGER_TABLE',
  /** DynamoDB table of ingest batch claims (pk = employeeId, sk = batchId), for idempotency. */
  batchesTable: 'BATCHES_TABLE',
  /** DynamoDB table of export jobs (pk = employeeId, sk = "export#…" | "running"). */
  exportsTable: 'EXPORTS_TABLE',
  /** SQS queue URL the consent function sends export jobs to. */
  exportQueueUrl: 'EXPORT_QUEUE_URL',
  /** S3 bucket for ciphertext captures. */
  capturesBucket: 'CAPTURES_BUCKET',
  /** S3 bucket for export files. */
  exportsBucket: 'EXPORTS_BUCKET',
  /** SQS queue URL the consent function sends purge jobs to. */
  purgeQueueUrl: 'PURGE_QUEUE_URL',
  /** SQS queue URL for key-policy sync jobs, used when KMS throttles a policy write (storms). */
  keySyncQueueUrl: 'KEY_SYNC_QUEUE_URL',
  /** Role ARNs that employee key policies name. */
  ingestRoleArn: 'INGEST_ROLE_ARN',
  stewardRoleArn: 'STEWARD_ROLE_ARN',
  exportRoleArn: 'EXPORT_ROLE_ARN',
  purgeRoleArn: 'PURGE_ROLE_ARN',
  /** The training role: key policies let the steward grant it Decrypt per employee and consented scope. */
  trainingRoleArn: 'TRAINING_ROLE_ARN',
  /** DynamoDB table of training datasets (dataset and membership items). */
  datasetsTable: 'DATASETS_TABLE',
  /** SQS queue URL of dataset build and sweep jobs. */
  datasetsQueueUrl: 'DATASETS_QUEUE_URL',
  /** Days a dataset lives before the sweeper retires its grants. Default 30. */
  datasetMaxDays: 'DATASET_MAX_DAYS',
  /** Optional: the compliance role, given read-only key access. */
  auditorRoleArn: 'AUDITOR_ROLE_ARN',
  /** The key-steward function the consent function invokes (its name in AWS, the local function name locally). */
  keyStewardFunction: 'KEY_STEWARD_FUNCTION',
  /** JWT claim holding the employee id. Default `sub`. */
  employeeIdClaim: 'EMPLOYEE_ID_CLAIM',
  /** Seconds before a sweep of the objects: a purge's second sweep, and the sweep after a withdrawal. 0-900. Default 360. */
  purgeResweepSeconds: 'PURGE_RESWEEP_SECONDS',
  /** Days a shredded key waits before deletion, 7-30. Default 7. */
  keyDeletionDays: 'KEY_DELETION_DAYS',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

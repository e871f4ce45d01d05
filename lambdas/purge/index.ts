// The purge worker: SQS-driven, one job per employee. Reports partial batch failures so only
// failed jobs are retried; the queue's DLQ catches jobs that keep failing.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { documentClient, kmsClient, s3Client, sqsClient } from '../shared/clients.js';
import { ENV, optionalEnv, requireEnv, ConfigurationError } from '../shared/environment.js';
import { ID_PATTERN } from '../shared/ids.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { purgeEmployee, type PurgeDeps } from './purge-employee.js';

const logger = createLogger('purge');
const keyDeletionDays = Number(optionalEnv(ENV.keyDeletionDays) ?? '7');
if (!Number.isInteger(keyDeletionDays) || keyDeletionDays < 7 || keyDeletionDays > 30) {
  throw new ConfigurationError(`${ENV.keyDeletionDays} must be a whole number of days from 7 to 30, got ${String(optionalEnv(ENV.keyDeletionDays))}`);
}
const resweepSeconds = Number(optionalEnv(ENV.purgeResweepSeconds) ?? '360');
if (!Number.isInteger(resweepSeconds) || resweepSeconds < 0 || resweepSeconds > 900) {
  throw new ConfigurationError(`${ENV.purgeResweepSeconds} must be a whole number of seconds from 0 to 900 (SQS's longest delay), got ${String(optionalEnv(ENV.purgeResweepSeconds))}`);
}
const deps: PurgeDeps = {
  ledger: new Ledger(documentClient(), requireEnv(ENV.ledgerTable)),
  kms: kmsClient(),
  s3: s3Client(),
  capturesBucket: requireEnv(ENV.capturesBucket),
  exportsBucket: requireEnv(ENV.exportsBucket),
  keyDeletionDays,
  sqs: sqsClient(),
  purgeQueueUrl: requireEnv(ENV.purgeQueueUrl),
  resweepSeconds,
  logger,
};

const purgeJob = z.object({
  employeeId: z.string().regex(ID_PATTERN),
  sequence: z.number().int().nonnegative(),
  sweep: z.union([z.literal(1), z.literal(2)]).optional(),
  deleted: z.object({ captures: z.number().int().nonnegative(), exports: z.number().int().nonnegative() }).optional(),
});

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    let job: z.infer<typeof purgeJob>;
    try {
      job = purgeJob.parse(JSON.parse(record.body));
    } catch {
      // A malformed job can never succeed: report it failed so it ends in the DLQ for a human.
      logger.error('malformed purge job', { messageId: record.messageId });
      batchItemFailures.push({ itemIdentifier: record.messageId });
      continue;
    }
    try {
      const outcome = await purgeEmployee(deps, job);
      logger.info('purge job done', { messageId: record.messageId, employeeId: job.employeeId, outcome });
    } catch (error) {
      logger.error('purge job failed; it will be retried', { messageId: record.messageId, employeeId: job.employeeId, error: error instanceof Error ? error.name + ': ' + error.message : String(error) });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}

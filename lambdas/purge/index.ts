// The purge worker: SQS-driven, one job per employee, either a purge (erasure) or the delayed sweep
// after a withdrawal. Powertools' batch processor reports partial batch failures so only failed
// jobs are retried; the queue's DLQ catches jobs that keep failing.
import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { purgeQueueJobSchema } from '../../contract/jobs.js';
import { metricAlarms } from '../shared/alarm-metrics.js';
import { documentClient, kmsClient, s3Client, sqsClient } from '../shared/clients.js';
import { ENV, optionalEnv, requireEnv, resweepSecondsFromEnv, ConfigurationError } from '../shared/environment.js';
import { jsonOrUndefined, MalformedJobError, newProcessor } from '../shared/jobs.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { purgeEmployee, type PurgeDeps } from './purge-employee.js';
import { sweepAfterRevoke } from './revoke-sweep.js';

const logger = createLogger('purge');
const keyDeletionDays = Number(optionalEnv(ENV.keyDeletionDays) ?? '7');
if (!Number.isInteger(keyDeletionDays) || keyDeletionDays < 7 || keyDeletionDays > 30) {
  throw new ConfigurationError(`${ENV.keyDeletionDays} must be a whole number of days from 7 to 30, got ${String(optionalEnv(ENV.keyDeletionDays))}`);
}
const resweepSeconds = resweepSecondsFromEnv();
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
  alarms: metricAlarms('purge'),
};

/** One job: a malformed one can never succeed, so it fails and ends in the DLQ for a human. */
async function purgeRecord(record: SQSRecord): Promise<void> {
  const parsed = purgeQueueJobSchema.safeParse(jsonOrUndefined(record.body));
  if (!parsed.success) {
    logger.error('malformed purge job', { messageId: record.messageId });
    throw new MalformedJobError(record.messageId);
  }
  const job = parsed.data;
  try {
    const outcome = job.kind === 'revoke-sweep' ? await sweepAfterRevoke(deps, job) : await purgeEmployee(deps, job);
    logger.info('purge job done', { messageId: record.messageId, employeeId: job.employeeId, kind: job.kind ?? 'purge', outcome });
  } catch (error) {
    logger.error('purge job failed; it will be retried', { messageId: record.messageId, employeeId: job.employeeId, error: error instanceof Error ? error.name + ': ' + error.message : String(error) });
    throw error;
  }
}

/** Reports the jobs that failed, so only they are retried; a batch where all fail is reported, not thrown. */
export function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(event, purgeRecord, newProcessor(), { context, processInParallel: false, throwOnFullBatchFailure: false });
}

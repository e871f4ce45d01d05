// The export worker: SQS-driven, one export per message (batch size 1), wired from the
// environment at module load (a missing variable fails before the first job).
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { QUEUES } from '../../contract/queues.js';
import { documentClient, kmsClient, s3Client } from '../shared/clients.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { ExportJobs } from '../shared/export-jobs.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { createExportHandler } from './export-handler.js';

function fromEnvironment(): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const db = documentClient();
  return createExportHandler(
    {
      ledger: new Ledger(db, requireEnv(ENV.ledgerTable)),
      jobs: new ExportJobs(db, requireEnv(ENV.exportsTable)),
      s3: s3Client(),
      kms: kmsClient(),
      capturesBucket: requireEnv(ENV.capturesBucket),
      exportsBucket: requireEnv(ENV.exportsBucket),
      logger: createLogger('export'),
    },
    { maxReceiveCount: QUEUES.export.maxReceiveCount },
  );
}

export const handler = fromEnvironment();

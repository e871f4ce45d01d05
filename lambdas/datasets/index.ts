// The datasets worker: SQS-driven, one job per message (build one dataset, or sweep the expired
// ones, which EventBridge Scheduler queues), wired from the environment at module load.
import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { datasetJobSchema } from '../../contract/datasets.js';
import { documentClient, lambdaClient, s3Client } from '../shared/clients.js';
import { DatasetsStore } from '../shared/datasets-store.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { jsonOrUndefined, MalformedJobError, newProcessor } from '../shared/jobs.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { buildDataset, sweepExpired, type DatasetBuilderDeps } from './dataset-builder.js';
import { StewardTrainingGrants } from './training-grants.js';

const logger = createLogger('datasets');
const db = documentClient();
const deps: DatasetBuilderDeps = {
  ledger: new Ledger(db, requireEnv(ENV.ledgerTable)),
  store: new DatasetsStore(db, requireEnv(ENV.datasetsTable)),
  s3: s3Client(),
  capturesBucket: requireEnv(ENV.capturesBucket),
  exportsBucket: requireEnv(ENV.exportsBucket),
  grants: new StewardTrainingGrants(lambdaClient(), requireEnv(ENV.keyStewardFunction)),
  logger,
};

async function datasetRecord(record: SQSRecord): Promise<void> {
  const parsed = datasetJobSchema.safeParse(jsonOrUndefined(record.body));
  if (!parsed.success) {
    logger.error('malformed dataset job', { messageId: record.messageId });
    throw new MalformedJobError(record.messageId);
  }
  const job = parsed.data;
  if (job.kind === 'sweep') {
    logger.info('dataset sweep done', { messageId: record.messageId, expired: await sweepExpired(deps) });
    return;
  }
  logger.info('dataset job done', { messageId: record.messageId, datasetId: job.datasetId, outcome: await buildDataset(deps, job.datasetId) });
}

export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(event, datasetRecord, newProcessor(), { context, processInParallel: false, throwOnFullBatchFailure: false });
}

// The ingest function, POST /v1/events: agents' capture batches. Wires IngestService from the
// environment at module load (a missing variable fails before the first request).
import { documentClient, kmsClient, s3Client } from '../shared/clients.js';
import { metricAlarms } from '../shared/alarm-metrics.js';
import { ENV, optionalEnv, requireEnv } from '../shared/environment.js';
import type { HttpEvent, HttpResult } from '../shared/http.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { BatchClaims } from './batch-claims.js';
import { createIngestHandler } from './ingest-handler.js';
import { IngestService } from './ingest-service.js';
import { kmsKeyrings } from '../shared/kms-keyring.js';

function fromEnvironment(): (event: HttpEvent) => Promise<HttpResult> {
  const logger = createLogger('ingest');
  const db = documentClient();
  const service = new IngestService({
    ledger: new Ledger(db, requireEnv(ENV.ledgerTable)),
    claims: new BatchClaims(db, requireEnv(ENV.batchesTable)),
    s3: s3Client(),
    bucket: requireEnv(ENV.capturesBucket),
    keyringFor: kmsKeyrings({ maxAttempts: 3 }),
    kms: kmsClient(),
    logger,
    alarms: metricAlarms('ingest'),
  });
  return createIngestHandler({ service, employeeIdClaim: optionalEnv(ENV.employeeIdClaim) ?? 'sub', logger });
}

export const handler = fromEnvironment();

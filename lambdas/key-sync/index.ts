// The key-sync worker: makes an employee's key policy match the newest ledger event. The consent
// function queues a job here when KMS throttles its policy write (a storm of changes outruns
// KMS's PutKeyPolicy quota). It runs as the steward role, the only one key policies let write them;
// like the key-steward function, it takes only an employee id and reads what to write from the ledger.
// It also runs the hourly export sweep (export-expiry.ts), which needs the steward role's RevokeGrant.
import { metricAlarms } from '../shared/alarm-metrics.js';
import { documentClient, kmsClient, sqsClient } from '../shared/clients.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { KeyPolicySync } from '../shared/key-policy-sync.js';
import { KeySteward, keyPolicyRolesFromEnv } from '../shared/key-steward.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { ExportJobs } from '../shared/export-jobs.js';
import { expireExports } from './export-expiry.js';
import { createKeySyncHandler } from './key-sync-worker.js';

const logger = createLogger('key-sync');
const alarms = metricAlarms('key-sync');
const db = documentClient();
const ledger = new Ledger(db, requireEnv(ENV.ledgerTable));
const steward = new KeySteward(kmsClient(), keyPolicyRolesFromEnv(), { alarms, logger });
const jobs = new ExportJobs(db, requireEnv(ENV.exportsTable));

export const handler = createKeySyncHandler({
  sync: new KeyPolicySync(ledger, steward),
  sqs: sqsClient(),
  queueUrl: requireEnv(ENV.keySyncQueueUrl),
  logger,
  expireExports: (timeLeftMs) => expireExports({ jobs, ledger, steward, alarms, logger, timeLeftMs }),
});

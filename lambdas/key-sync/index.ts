// The key-sync worker: makes an employee's key policy match the newest ledger event. The consent
// function queues a job here when KMS throttles its policy write (a storm of changes outruns
// KMS's PutKeyPolicy quota). It runs as the steward role, the only one key policies let write them;
// like the key-steward function, it takes only an employee id and reads what to write from the ledger.
import { metricAlarms } from '../shared/alarm-metrics.js';
import { documentClient, kmsClient, sqsClient } from '../shared/clients.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { KeyPolicySync } from '../shared/key-policy-sync.js';
import { KeySteward, keyPolicyRolesFromEnv } from '../shared/key-steward.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { createKeySyncHandler } from './key-sync-worker.js';

const logger = createLogger('key-sync');
const ledger = new Ledger(documentClient(), requireEnv(ENV.ledgerTable));

export const handler = createKeySyncHandler({
  sync: new KeyPolicySync(ledger, new KeySteward(kmsClient(), keyPolicyRolesFromEnv(), { alarms: metricAlarms('key-sync'), logger })),
  sqs: sqsClient(),
  queueUrl: requireEnv(ENV.keySyncQueueUrl),
  logger,
});

// The policy-watch function: every PutKeyPolicy CloudTrail records (EventBridge in AWS, the local
// trail dispatcher locally) reaches it through its queue; it alarms on an employee key policy the
// consent ledger does not account for, and queues the key-sync job that puts the right one back.
import { metricAlarms } from '../shared/alarm-metrics.js';
import { documentClient, kmsClient, sqsClient } from '../shared/clients.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { keyPolicyRolesFromEnv } from '../shared/key-steward.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import { createPolicyWatchHandler } from './policy-watch.js';

export const handler = createPolicyWatchHandler({
  ledger: new Ledger(documentClient(), requireEnv(ENV.ledgerTable)),
  kms: kmsClient(),
  sqs: sqsClient(),
  keySyncQueueUrl: requireEnv(ENV.keySyncQueueUrl),
  roles: keyPolicyRolesFromEnv(),
  alarms: metricAlarms('policy-watch'),
  logger: createLogger('policy-watch'),
});

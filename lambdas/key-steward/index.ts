// The key-steward function: the only writer of employee keys. No route reaches it; the consent
// function invokes it synchronously with an employee id and an intent (contract/steward.ts).
import { documentClient, kmsClient } from '../shared/clients.js';
import { metricAlarms } from '../shared/alarm-metrics.js';
import { DatasetsStore } from '../shared/datasets-store.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { KeyPolicySync } from '../shared/key-policy-sync.js';
import { KeySteward, keyPolicyRolesFromEnv } from '../shared/key-steward.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';
import type { StewardResponse } from '../../contract/steward.js';
import { StewardService } from './steward-service.js';

const logger = createLogger('key-steward');
const alarms = metricAlarms('key-steward');
const db = documentClient();
const ledger = new Ledger(db, requireEnv(ENV.ledgerTable));
const datasets = new DatasetsStore(db, requireEnv(ENV.datasetsTable));
const steward = new KeySteward(kmsClient(), keyPolicyRolesFromEnv(), { alarms, logger });
const service = new StewardService({ ledger, steward, sync: new KeyPolicySync(ledger, steward), datasets, logger, alarms });

export async function handler(event: unknown): Promise<StewardResponse> {
  return service.handle(event);
}

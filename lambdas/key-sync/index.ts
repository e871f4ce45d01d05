// The key-sync worker: makes an employee's key policy match the newest ledger event. The consent
// function queues a job here when KMS throttles its policy write (a storm of changes outruns
// KMS's PutKeyPolicy quota). It runs as the steward role, the only one key policies let write them;
// like the key-steward function, it takes only an employee id and reads what to write from the ledger.
import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { keySyncJobSchema } from '../../contract/jobs.js';
import { documentClient, kmsClient } from '../shared/clients.js';
import { ENV, requireEnv } from '../shared/environment.js';
import { jsonOrUndefined, MalformedJobError, newProcessor } from '../shared/jobs.js';
import { KeyPolicySync } from '../shared/key-policy-sync.js';
import { KeySteward, keyPolicyRolesFromEnv } from '../shared/key-steward.js';
import { Ledger } from '../shared/ledger.js';
import { createLogger } from '../shared/logger.js';

const logger = createLogger('key-sync');
const ledger = new Ledger(documentClient(), requireEnv(ENV.ledgerTable));
const sync = new KeyPolicySync(ledger, new KeySteward(kmsClient(), keyPolicyRolesFromEnv(), { logger }));

/**
 * Jobs for the same employee collapse: one sync applies the newest event, whatever was queued, so
 * the records run in order and a later job of an employee already synced in this batch succeeds.
 */
export function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  const done = new Set<string>();
  const syncRecord = async (record: SQSRecord): Promise<void> => {
    const parsed = keySyncJobSchema.safeParse(jsonOrUndefined(record.body));
    if (!parsed.success) {
      logger.error('malformed key-sync job', { messageId: record.messageId });
      throw new MalformedJobError(record.messageId);
    }
    const { employeeId } = parsed.data;
    if (done.has(employeeId)) return;
    try {
      const state = await sync.syncNewest(employeeId);
      done.add(employeeId);
      logger.info('key policy synced', { employeeId, sequence: state?.sequence });
    } catch (error) {
      logger.warn('key sync failed; it will be retried', { employeeId, error: error instanceof Error ? error.name : String(error) });
      throw error;
    }
  };
  return processPartialResponse(event, syncRecord, newProcessor(), { context, processInParallel: false, throwOnFullBatchFailure: false });
}

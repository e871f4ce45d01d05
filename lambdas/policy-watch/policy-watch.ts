// What policy-watch does with a batch of CloudTrail PutKeyPolicy events: find whose key it is (its
// alias under ALIAS_PREFIX), judge the policy written against that employee's ledger, and on a
// difference raise the KeyPolicyDrift alarm and queue a key-sync job that writes the right policy.
// The repair cannot loop: key-sync writes the builder's policy for the newest event, which the
// next check finds expected, and it queues nothing.
import type { Logger } from '@aws-lambda-powertools/logger';
import { processPartialResponse } from '@aws-lambda-powertools/batch';
import { ListAliasesCommand, type KMSClient } from '@aws-sdk/client-kms';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ALIAS_PREFIX } from '../../contract/app.js';
import type { KeySyncJob } from '../../contract/jobs.js';
import { keyPolicyWriteEventSchema, type KeyPolicyWriteRecord } from '../../contract/key-policy-events.js';
import { ID_PATTERN } from '../../contract/vocabulary.js';
import type { Alarms } from '../shared/alarm-metrics.js';
import type { ConsentEvent } from '../shared/consent-state.js';
import { jsonOrUndefined, MalformedJobError, newProcessor } from '../shared/jobs.js';
import type { KeyPolicyRoles } from '../shared/key-policy.js';
import type { Ledger } from '../shared/ledger.js';
import { judgeKeyPolicy, type KeyPolicyVerdict, type VerdictOptions } from './key-policy-verdict.js';

export interface PolicyWatchDeps {
  readonly ledger: Pick<Ledger, 'eventsAfter'>;
  readonly kms: Pick<KMSClient, 'send'>;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly keySyncQueueUrl: string;
  readonly roles: KeyPolicyRoles;
  readonly alarms: Alarms;
  readonly logger: Logger;
  readonly verdictOptions?: VerdictOptions;
}

/** What one record came to, for the log and the tests. */
export type WatchOutcome =
  | { readonly kind: 'ignored'; readonly why: 'denied' | 'not-an-employee-key' | 'not-the-recorded-key' }
  | { readonly kind: 'checked'; readonly employeeId: string; readonly verdict: KeyPolicyVerdict; readonly repairQueued: boolean };

export function createPolicyWatchHandler(deps: PolicyWatchDeps): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const { logger } = deps;

  /** The employee whose alias names the key, or undefined for any other key. */
  async function employeeOf(keyId: string): Promise<string | undefined> {
    const listed = await deps.kms.send(new ListAliasesCommand({ KeyId: keyId }));
    const ids = (listed.Aliases ?? [])
      .map((alias) => alias.AliasName ?? '')
      .filter((name) => name.startsWith(ALIAS_PREFIX))
      .map((name) => name.slice(ALIAS_PREFIX.length))
      .filter((id) => ID_PATTERN.test(id));
    // The steward gives a key one employee alias; a second one is not ours to interpret.
    return ids.length === 1 ? ids[0] : undefined;
  }

  async function check(record: KeyPolicyWriteRecord): Promise<WatchOutcome> {
    const parameters = record.requestParameters;
    // A refused write changed nothing; the trail keeps the attempt for the auditors.
    if (record.errorCode !== undefined || parameters === null || parameters === undefined) return { kind: 'ignored', why: 'denied' };
    const keyArn = record.resources?.[0]?.ARN ?? parameters.keyId;
    const employeeId = await employeeOf(keyArn);
    if (employeeId === undefined) return { kind: 'ignored', why: 'not-an-employee-key' };
    const events = (await deps.ledger.eventsAfter(employeeId, 0)).flatMap((reading) => (reading.valid ? [reading.event] : []));
    const newest: ConsentEvent | undefined = events.at(-1);
    // A key the ledger never recorded is ingest's to refuse (KeyMismatch); nothing to rebuild here.
    // CloudTrail names the key by ARN in `resources`; a bare key id is matched against the ARN's end.
    const isThisKey = (recorded: string | undefined): boolean => recorded !== undefined && (recorded === keyArn || recorded.endsWith(`:key/${keyArn}`));
    if (newest === undefined || !events.some((event) => isThisKey(event.state.keyArn))) {
      return { kind: 'ignored', why: 'not-the-recorded-key' };
    }
    const verdict = judgeKeyPolicy(parameters.policy, new Date(record.eventTime), events, deps.roles, deps.verdictOptions);
    if (verdict.kind === 'expected') return { kind: 'checked', employeeId, verdict, repairQueued: false };
    if (verdict.kind === 'drift') deps.alarms.raise('KeyPolicyDrift');
    const job: KeySyncJob = { employeeId, sequence: newest.sequence };
    await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.keySyncQueueUrl, MessageBody: JSON.stringify(job) }));
    return { kind: 'checked', employeeId, verdict, repairQueued: true };
  }

  return (event, context) => {
    const handle = async (record: SQSRecord): Promise<void> => {
      const parsed = keyPolicyWriteEventSchema.safeParse(jsonOrUndefined(record.body));
      if (!parsed.success) {
        logger.error('malformed policy-watch event', { messageId: record.messageId });
        throw new MalformedJobError(record.messageId);
      }
      const detail = parsed.data.detail;
      const outcome = await check(detail);
      // Ids and verdicts only: never the policy text.
      logger.info('key policy write checked', {
        eventId: detail.eventID,
        eventTime: detail.eventTime,
        writer: detail.userIdentity.arn,
        outcome: outcome.kind === 'ignored' ? outcome.why : outcome.verdict.kind,
        ...(outcome.kind === 'checked' ? { employeeId: outcome.employeeId, repairQueued: outcome.repairQueued } : {}),
      });
    };
    return processPartialResponse(event, handle, newProcessor(), { context, processInParallel: false, throwOnFullBatchFailure: false });
  };
}

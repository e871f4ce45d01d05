// The application metrics that mean an operator must look: the functions publish them (one EMF
// line each, lambdas/shared/alarm-metrics.ts) and the CDK app alarms on each one.
import { METRICS_NAMESPACE, SERVICE_NAME } from './app.js';

export const ALARM_METRICS = {
  /** An alias names a key this application would not adopt; consent answered 409 key-conflict. */
  KeyConflict: 'an employee alias names a key the application will not adopt (409 key-conflict)',
  /** CreateKey hit the Region's key quota; consent answered 503 key-quota-exhausted. */
  KeyQuotaExhausted: 'CreateKey hit the Region\'s KMS key quota (503 key-quota-exhausted)',
  /** A ledger event failed validation and was not applied. */
  LedgerEventInvalid: 'a consent ledger event failed validation and was not applied',
  /** The employee's alias does not resolve to the key the ledger records; ingest refused. */
  KeyMismatch: 'an employee alias does not name the key the ledger records; ingest refused',
  /** A withdrawal was recorded but its key policy could not be written now; a key-sync job will. */
  WithdrawalEnforcementDeferred: 'a withdrawal was recorded but its key policy write failed; a key-sync job retries it',
  /** The key steward refused a request that is not one it serves: its callers are ours (consent, datasets), so someone forged it. */
  StewardRequestRefused: 'the key steward refused a request it does not serve; its callers are the consent and datasets functions, so one of them was used to forge it',
  /**
   * An employee key policy was written (CloudTrail PutKeyPolicy) that is not what the consent
   * ledger said at that moment: a compromised writer, or a bug. policy-watch queues a repair.
   */
  KeyPolicyDrift: 'an employee key policy was written that differs from what its consent ledger implies; a key-sync job puts the right one back',
  /**
   * The hourly export sweep revoked an export grant that outlived its export's life (5 hours): a
   * stuck export worker, or someone running as the export role who took the job and kept its grant.
   */
  ExportGrantExpired: 'the export sweep revoked a grant that outlived its export (a stuck or hostile export worker)',
} as const;

export type AlarmMetric = keyof typeof ALARM_METRICS;
export const ALARM_METRIC_NAMES = Object.keys(ALARM_METRICS) as AlarmMetric[];

/**
 * Where the metrics live. Every function publishes them under the same dimensions, so one alarm
 * per metric covers every function that raises it (the function goes in the EMF metadata).
 */
export const ALARM_METRIC_NAMESPACE = METRICS_NAMESPACE;
export const ALARM_METRIC_DIMENSIONS = { service: SERVICE_NAME } as const;

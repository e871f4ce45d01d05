// The counts CloudWatch alarms watch: a planted key, an exhausted key quota, an invalid ledger
// event, an alias that names another key, a withdrawal whose key write had to wait, a request the
// key steward refused. Each is published at once as one EMF line, so a crash right after cannot
// lose it.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const ALARM_METRICS = [
  /** An alias names a key this application would not adopt; consent answered 409 key-conflict. */
  'KeyConflict',
  /** CreateKey hit the Region's key quota; consent answered 503 key-quota-exhausted. */
  'KeyQuotaExhausted',
  /** A ledger event failed validation and was not applied. */
  'LedgerEventInvalid',
  /** The employee's alias does not resolve to the key the ledger records; ingest refused. */
  'KeyMismatch',
  /** A withdrawal was recorded but its key policy could not be written now; a key-sync job will. */
  'WithdrawalEnforcementDeferred',
  /** The key steward refused a request that is not one it serves: its only caller is ours, so someone forged it. */
  'StewardRequestRefused',
] as const;
export type AlarmMetric = (typeof ALARM_METRICS)[number];

export interface Alarms {
  raise(metric: AlarmMetric): void;
}

export const METRICS_NAMESPACE = 'ConsentCapture';

/** Alarms as Powertools metrics of one function, in the `ConsentCapture` namespace. */
export function metricAlarms(functionName: string): Alarms {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: `consent-capture-${functionName}` });
  return {
    raise(metric) {
      metrics.addMetric(metric, MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    },
  };
}

// The counts CloudWatch alarms watch (named in contract/alarms.ts): a planted key, an exhausted
// key quota, an invalid ledger event, an alias that names another key, a withdrawal whose key
// write had to wait, a request the key steward refused. Each is published at once as one EMF line, so a crash right after cannot lose it.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ALARM_METRIC_DIMENSIONS, ALARM_METRIC_NAMES, ALARM_METRIC_NAMESPACE, type AlarmMetric } from '../../contract/alarms.js';

export const ALARM_METRICS = ALARM_METRIC_NAMES;
export type { AlarmMetric };

export interface Alarms {
  raise(metric: AlarmMetric): void;
}

export const METRICS_NAMESPACE = ALARM_METRIC_NAMESPACE;

/**
 * Alarms as Powertools metrics. Every function publishes under the same `service` dimension, so
 * the stack's one alarm per metric sees them all; the function is metadata (in the log line, not
 * a dimension), for the operator who follows the alarm to the logs.
 */
export function metricAlarms(functionName: string): Alarms {
  const metrics = new Metrics({ namespace: ALARM_METRIC_NAMESPACE, serviceName: ALARM_METRIC_DIMENSIONS.service });
  return {
    raise(metric) {
      metrics.addMetric(metric, MetricUnit.Count, 1);
      metrics.addMetadata('function', functionName);
      metrics.publishStoredMetrics();
    },
  };
}

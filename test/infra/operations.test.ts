// What the platform team needs once the stack runs: alarms on every dead-letter queue, queue age,
// function errors and throttles and the application's own metrics, sent to an encrypted topic;
// dead-lettered jobs that cannot expire unseen; and concurrency that ingest cannot take away.

import { Duration, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ALARM_METRIC_NAMES, DEAD_LETTER_RETENTION_DAYS, FUNCTION_NAMES, FUNCTIONS, QUEUE_NAMES, QUEUES } from '../../contract/index.js';
import { JobQueue } from '../../lib/constructs/job-queue.js';
import { reservedConcurrency } from '../../lib/consent-capture-stack.js';
import { synthStack } from './fixtures/test-app.js';

type Resources = Record<string, { Properties: Record<string, unknown> }>;

function alarms(template: ReturnType<typeof synthStack>['template']): Array<Record<string, unknown>> {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm') as Resources).map((r) => r.Properties);
}

const idOf = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

describe('alarms', () => {
  it('fire on any message in every queue\'s dead-letter queue', () => {
    const { stack, template } = synthStack();

    for (const name of QUEUE_NAMES) {
      expect(alarms(template)).toContainEqual(
        expect.objectContaining({
          AlarmName: `consent-capture-${name}-dead-letters`,
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Namespace: 'AWS/SQS',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf(stack, stack.queues[name].deadLetterQueue), 'QueueName'] } }],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        }),
      );
    }
  });

  it('fire when the oldest job of the key-sync or purge queue waits longer than the contract allows', () => {
    const { stack, template } = synthStack();

    for (const name of QUEUE_NAMES) {
      expect(alarms(template)).toContainEqual(
        expect.objectContaining({
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf(stack, stack.queues[name].queue), 'QueueName'] } }],
          Threshold: QUEUES[name].maxAgeSeconds,
        }),
      );
    }
  });

  it('fire on errors and throttles of every function', () => {
    const { stack, template } = synthStack();

    for (const name of FUNCTION_NAMES) {
      for (const metric of ['Errors', 'Throttles']) {
        expect(alarms(template)).toContainEqual(
          expect.objectContaining({
            Namespace: 'AWS/Lambda',
            MetricName: metric,
            Dimensions: [{ Name: 'FunctionName', Value: { Ref: idOf(stack, stack.functions[name].fn) } }],
            Threshold: 1,
          }),
        );
      }
    }
  });

  it('fire on each application metric, in the namespace and with the one dimension the functions publish', () => {
    const { template } = synthStack();

    expect(ALARM_METRIC_NAMES).toEqual(expect.arrayContaining(['KeyQuotaExhausted', 'KeyConflict', 'LedgerEventInvalid', 'KeyMismatch', 'WithdrawalEnforcementDeferred']));
    for (const metric of ALARM_METRIC_NAMES) {
      expect(alarms(template)).toContainEqual(
        expect.objectContaining({
          Namespace: 'ConsentCapture',
          MetricName: metric,
          Dimensions: [{ Name: 'service', Value: 'consent-capture' }],
          Statistic: 'Sum',
          Threshold: 1,
          TreatMissingData: 'notBreaching',
        }),
      );
    }
  });

  it('all notify the operations topic', () => {
    const { stack, template } = synthStack();
    const topic = idOf(stack, stack.alarms.topic);

    const all = alarms(template);
    // ...and one on the dead-letter queue of the CloudTrail rules' targets (test/infra/audit-trail.test.ts).
    expect(all).toHaveLength(QUEUE_NAMES.length * 2 + FUNCTION_NAMES.length * 2 + ALARM_METRIC_NAMES.length + 1);
    for (const alarm of all) expect(alarm['AlarmActions']).toEqual([{ Ref: topic }]);
  });

  it('go to a topic under its own rotating key, which CloudWatch of this account may use', () => {
    const { stack, template } = synthStack();
    const key = idOf(stack, stack.alarms.topicKey);

    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });

  it('email the address given as -c alarmEmail, and nobody without it', () => {
    const withEmail = synthStack({ alarmEmail: 'platform-oncall@example.com' }).template;
    const without = synthStack().template;

    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'platform-oncall@example.com' });
    without.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('refuse an alarmEmail that is not an address', () => {
    expect(() => synthStack({ alarmEmail: 'oncall' })).toThrow(/context "alarmEmail" must be an email address, got "oncall"/);
  });
});

describe('dead-letter retention', () => {
  it('is SQS\'s maximum, 14 days, and longer than its source queue\'s, on every queue', () => {
    const { stack, template } = synthStack();
    const queues = template.findResources('AWS::SQS::Queue') as Resources;

    for (const name of QUEUE_NAMES) {
      const source = queues[idOf(stack, stack.queues[name].queue)]?.Properties['MessageRetentionPeriod'] as number;
      const dlq = queues[idOf(stack, stack.queues[name].deadLetterQueue)]?.Properties['MessageRetentionPeriod'] as number;
      expect(dlq).toBe(14 * 86_400);
      expect(DEAD_LETTER_RETENTION_DAYS).toBe(14);
      // A job dead-lettered at the very end of its source retention still has a week in the DLQ.
      expect(dlq - source).toBeGreaterThanOrEqual(7 * 86_400);
    }
  });

  it('refuses a job queue whose retention is not shorter than the dead-letter queue\'s', () => {
    const stack = new Stack();

    expect(() => new JobQueue(stack, 'Q', { jobs: 'test jobs', consumerTimeout: Duration.seconds(30), retentionPeriod: Duration.days(14) })).toThrow(
      /test jobs queue: retentionPeriod must be shorter than the dead-letter queue's 14 days, got 14 days/,
    );
  });
});

describe('concurrency', () => {
  it('reserves the contract\'s concurrency for consent, the key steward, purge, export, key-sync and datasets, and caps ingest at -c ingestConcurrency', () => {
    const { stack, template } = synthStack({ ingestConcurrency: 150 });
    const functions = template.findResources('AWS::Lambda::Function') as Resources;

    const reserved = Object.fromEntries(FUNCTION_NAMES.map((name) => [name, functions[idOf(stack, stack.functions[name].fn)]?.Properties['ReservedConcurrentExecutions']]));
    expect(reserved).toEqual({ consent: 25, 'key-steward': 25, ingest: 150, purge: 5, export: 5, 'key-sync': 2, datasets: 2, 'policy-watch': 2 });
    expect(FUNCTIONS.consent.reservedConcurrency).toBe(25);
  });

  it('defaults ingest to 200, leaving 734 of a new account\'s 1,000 unreserved', () => {
    const { stack } = synthStack();

    expect(stack.settings.ingestConcurrency).toBe(200);
    expect(stack.settings.accountConcurrency - reservedConcurrency(stack.settings.ingestConcurrency).total).toBe(734);
  });

  it('refuses reservations that leave fewer than 100 unreserved executions, with the numbers', () => {
    expect(() => synthStack({ ingestConcurrency: 900 })).toThrow(
      'the functions would reserve 966 concurrent executions (consent 25, key-steward 25, ingest 900, purge 5, export 5, key-sync 2, datasets 2, policy-watch 2), which leaves 34 of the account\'s 1000; Lambda keeps at least 100 unreserved',
    );
  });

  it('accepts them when the deployer says the account\'s quota is higher', () => {
    expect(() => synthStack({ ingestConcurrency: 900, accountConcurrency: 5000 })).not.toThrow();
  });

  it('throttles the API stage from -c apiRateLimit and -c apiBurstLimit', () => {
    const { template } = synthStack({ apiRateLimit: '50', apiBurstLimit: 100 });

    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } });
  });

  it('throttles the API stage at 200/s with bursts of 400 by default', () => {
    const { template } = synthStack();

    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 } });
  });
});

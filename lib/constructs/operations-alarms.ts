// The operator's alarms and the topic they notify: a message in any dead-letter queue, a job
// waiting too long in a work queue, a function's errors and throttles, and each application
// metric of contract/alarms.ts. Everything is walked from what it is given, so a queue or function
// added to the contract gets its alarms without a change here.

import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALARM_METRIC_DIMENSIONS, ALARM_METRIC_NAMES, ALARM_METRIC_NAMESPACE, ALARM_METRICS } from '../../contract/alarms.js';

export interface AlarmedQueue {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** The oldest job may wait this long. */
  readonly maxAge: Duration;
}

export interface OperationsAlarmsProps {
  /** Prefix of every alarm name, e.g. the deployment's role prefix. */
  readonly namePrefix: string;
  /** Work queues by a short name (`purge`): each gets a DLQ alarm and an age alarm. */
  readonly queues: Readonly<Record<string, AlarmedQueue>>;
  /** Functions by a short name: each gets an errors and a throttles alarm. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** Subscribed to the topic by email. @default - no subscription: subscribe in the console or by CLI */
  readonly email?: string;
}

export class OperationsAlarms extends Construct {
  public readonly topic: sns.Topic;
  /** The topic's key: CloudWatch cannot publish to a topic under the AWS managed aws/sns key. */
  public readonly topicKey: kms.Key;
  /** Every alarm, by name. */
  public readonly alarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: OperationsAlarmsProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'consent-capture: encrypts the operations alarm topic',
      enableKeyRotation: true,
    });
    // CloudWatch encrypts the notification it publishes: only alarms of this account may.
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'consent-capture operations alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    if (props.email !== undefined) {
      const subscription = this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason: 'An undelivered alarm email loses nothing: the alarm stays in ALARM in CloudWatch until its cause is fixed, and a dead-letter queue of undelivered emails would be one more thing nobody watches.',
      });
    }
    const notify = new actions.SnsAction(this.topic);

    const alarms = new Map<string, cloudwatch.Alarm>();
    const add = (name: string, metric: cloudwatch.IMetric, description: string, threshold = 1): void => {
      const alarm = new cloudwatch.Alarm(this, name, {
        alarmName: `${props.namePrefix}-${name}`,
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data is no failure: a quiet queue or function publishes nothing.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(notify);
      alarms.set(name, alarm);
    };

    const period = Duration.minutes(1);
    for (const [name, queue] of Object.entries(props.queues)) {
      add(
        `${name}-dead-letters`,
        queue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        `A ${name} job failed every attempt and waits in its dead-letter queue: read it, fix the cause, redrive it.`,
      );
      add(
        `${name}-oldest-job`,
        queue.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }),
        `The oldest ${name} job has waited ${queue.maxAge.toSeconds()} s or more: its worker is failing, throttled or starved.`,
        queue.maxAge.toSeconds(),
      );
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      add(`${name}-errors`, fn.metricErrors({ period, statistic: 'Sum' }), `The ${name} function failed (an error or a timeout).`);
      add(`${name}-throttles`, fn.metricThrottles({ period, statistic: 'Sum' }), `The ${name} function was throttled: its concurrency is used up.`);
    }
    for (const metricName of ALARM_METRIC_NAMES) {
      add(
        metricName,
        new cloudwatch.Metric({ namespace: ALARM_METRIC_NAMESPACE, metricName, dimensionsMap: { ...ALARM_METRIC_DIMENSIONS }, period, statistic: 'Sum' }),
        `${ALARM_METRICS[metricName]}.`,
      );
    }
    this.alarms = alarms;
  }
}

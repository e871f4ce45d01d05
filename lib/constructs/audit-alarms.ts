// Drift and misuse alarms from CloudTrail, as EventBridge rules:
// - every PutKeyPolicy goes to the policy-watch queue (its function compares it with the ledger);
// - a Decrypt or CreateGrant on an employee key by anyone but the export and training roles and the
//   key steward notifies the operations topic;
// - the audit trail stopped, deleted, or its selectors or settings changed notifies the topic.

import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CLOUDTRAIL_DETAIL_TYPE, KEY_POLICY_WRITE_PATTERN } from '../../contract/key-policy-events.js';
import { DEAD_LETTER_RETENTION_DAYS } from '../../contract/queues.js';
import { acknowledgeDeadLetterQueue } from './function-defaults.js';

/** The CloudTrail calls that stop, remove or narrow a trail's recording. */
export const TRAIL_TAMPERING_EVENTS = ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors'] as const;

/** The KMS calls that read an employee's data or open a way to: only the export and training roles (through grants) and the key steward (minting them) make them. */
export const KEY_USE_EVENTS = ['Decrypt', 'CreateGrant'] as const;

/**
 * EventBridge delivers read-only management events (Decrypt is one) only to rules in this state;
 * CDK's Rule has no property for it, so it is set on the CfnRule.
 */
export const ALL_MANAGEMENT_EVENTS_STATE = 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS';

export interface AuditAlarmsProps {
  /** Prefix of every rule and alarm name. */
  readonly namePrefix: string;
  /** The operations alarm topic. */
  readonly topic: sns.ITopic;
  /** Where PutKeyPolicy events go: the policy-watch function's queue. */
  readonly policyWatchQueue: sqs.IQueue;
  /**
   * The roles whose Decrypt and CreateGrant on employee keys are expected: the export role and the
   * training role decrypt through grants, the key steward mints them.
   */
  readonly keyUsers: readonly iam.IRole[];
  /** The audit trail's name and ARN (a call may name the trail either way). */
  readonly trailName: string;
  readonly trailArn: string;
}

export class AuditAlarms extends Construct {
  public readonly keyPolicyWrites: events.Rule;
  public readonly foreignKeyUse: events.Rule;
  public readonly trailTampering: events.Rule;
  /** The role the topic rules publish with. */
  public readonly topicPublisher: iam.Role;
  /** Events EventBridge could not deliver to a target, after its retries. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AuditAlarmsProps) {
    super(scope, id);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
    });
    acknowledgeDeadLetterQueue(this.deadLetterQueue, 'CloudTrail events EventBridge could not deliver to the policy-watch queue or the alarm topic');
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the EventBridge rules\' targets (cdk-nag recognises only SQS redrive policies as DLQ use); a DLQ of its own would only move the failure one queue further.',
    });
    const targetProps = { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185, maxEventAge: Duration.hours(24) };
    // The topic is encrypted: publishing needs its key. Through a role of these rules' own, the
    // topic's key and policy admit that role, not the EventBridge service for any rule anywhere.
    this.topicPublisher = new iam.Role(this, 'TopicPublisher', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: 'Publishes the CloudTrail alarm rules\' notifications to the operations topic.',
    });
    const topicProps = { ...targetProps, role: this.topicPublisher };

    this.keyPolicyWrites = new events.Rule(this, 'KeyPolicyWrites', {
      ruleName: `${props.namePrefix}-key-policies`,
      description: 'Every PutKeyPolicy, to policy-watch, which compares it with the consent ledger.',
      eventPattern: {
        source: [...KEY_POLICY_WRITE_PATTERN.source],
        detailType: [...KEY_POLICY_WRITE_PATTERN.detailType],
        detail: { eventSource: [...KEY_POLICY_WRITE_PATTERN.detail.eventSource], eventName: [...KEY_POLICY_WRITE_PATTERN.detail.eventName] },
      },
      targets: [new targets.SqsQueue(props.policyWatchQueue, targetProps)],
    });

    // An employee key is recognised by the employeeId its callers must name: in the encryption
    // context of a Decrypt, in the grant constraints of a CreateGrant (the key policy requires
    // both). A call without it on an employee key is refused by the key policy anyway.
    const employeeKeyCall = [
      { requestParameters: { encryptionContext: { employeeId: [{ exists: true }] } } },
      { requestParameters: { constraints: { encryptionContextSubset: { employeeId: [{ exists: true }] } } } },
      { requestParameters: { constraints: { encryptionContextEquals: { employeeId: [{ exists: true }] } } } },
    ];
    const message = (what: string): events.RuleTargetInput =>
      events.RuleTargetInput.fromText(
        `consent-capture: ${what}: ${events.EventField.fromPath('$.detail.eventName')} by ${events.EventField.fromPath('$.detail.userIdentity.arn')} ` +
          `at ${events.EventField.fromPath('$.detail.eventTime')} in ${events.EventField.fromPath('$.detail.awsRegion')} ` +
          `(event ${events.EventField.fromPath('$.detail.eventID')}; error ${events.EventField.fromPath('$.detail.errorCode')}).`,
      );

    this.foreignKeyUse = new events.Rule(this, 'ForeignKeyUse', {
      ruleName: `${props.namePrefix}-key-use`,
      description: 'Decrypt or CreateGrant on an employee key by anyone but the export and training roles and the key steward.',
      eventPattern: {
        source: ['aws.kms'],
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...KEY_USE_EVENTS],
          // The role behind the session: a Lambda's session ARN names its function, the role ARN stays fixed.
          userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': props.keyUsers.map((role) => role.roleArn) }] } } },
          $or: employeeKeyCall,
        },
      },
      targets: [new targets.SnsTopic(props.topic, { ...topicProps, message: message('an employee key was used by an unexpected principal') })],
    });
    // A principal that is no role session (an IAM user, the root) has no sessionIssuer, and
    // anything-but never matches a missing field: a second rule catches those.
    const notARoleSession = new events.Rule(this, 'ForeignKeyUseOutsideRoles', {
      ruleName: `${props.namePrefix}-key-use-user`,
      description: 'Decrypt or CreateGrant on an employee key by a principal that is no role session (an IAM user, the root).',
      eventPattern: {
        source: ['aws.kms'],
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...KEY_USE_EVENTS],
          userIdentity: { type: [{ 'anything-but': ['AssumedRole', 'AWSService'] }] },
          $or: employeeKeyCall,
        },
      },
      targets: [new targets.SnsTopic(props.topic, { ...topicProps, message: message('an employee key was used by a principal that is not a role') })],
    });
    for (const rule of [this.foreignKeyUse, notARoleSession]) {
      (rule.node.defaultChild as events.CfnRule).addPropertyOverride('State', ALL_MANAGEMENT_EVENTS_STATE);
    }

    this.trailTampering = new events.Rule(this, 'TrailTampering', {
      ruleName: `${props.namePrefix}-trail-change`,
      description: 'The audit trail stopped, deleted, or its event selectors or settings changed.',
      eventPattern: {
        source: ['aws.cloudtrail'],
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: {
          eventSource: ['cloudtrail.amazonaws.com'],
          eventName: [...TRAIL_TAMPERING_EVENTS],
          // Calls name the trail by name or by ARN (the field is `name` for every one of them).
          requestParameters: { name: [props.trailName, props.trailArn] },
        },
      },
      targets: [new targets.SnsTopic(props.topic, { ...topicProps, message: message('the audit trail was stopped, deleted or changed') })],
    });

    const publisherPolicy = this.topicPublisher.node.tryFindChild('DefaultPolicy');
    if (publisherPolicy !== undefined) {
      Validations.of(publisherPolicy).acknowledge(
        { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'sns:Publish to the alarm topic and its key belong to this one role; as a managed policy they could be attached to another principal.' },
        { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: 'SNS asks for a data key of the alarm topic\'s own key when the rules publish (grantPublish writes GenerateDataKey*); the statement names that one key.' },
      );
    }

    // An undeliverable alarm is itself an alarm, on CloudWatch's own path to the topic.
    const undelivered = new cloudwatch.Alarm(this, 'UndeliveredEvents', {
      alarmName: `${props.namePrefix}-audit-events-undelivered`,
      alarmDescription: 'EventBridge could not deliver a CloudTrail event to policy-watch or the alarm topic: read the dead-letter queue.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    undelivered.addAlarmAction(new actions.SnsAction(props.topic));
  }
}


// The compliance record in the template: the trail, its locked bucket and key, the Athena
// workgroup, Glue table and named queries, the auditor role's reach, and the EventBridge rules
// that send key-policy writes to policy-watch and foreign key use and trail tampering to the topic.

import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_DATABASE, AUDIT_QUERIES, CLOUDTRAIL_COLUMNS, CLOUDTRAIL_TABLE, KEY_POLICY_WRITE_PATTERN, type AuditQuery } from '../../contract/index.js';
import { ALL_MANAGEMENT_EVENTS_STATE } from '../../lib/constructs/audit-alarms.js';
import { AuditTrail } from '../../lib/constructs/audit-trail.js';
import type { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { synthStack, testApp } from './fixtures/test-app.js';

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: Json | string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Json>;
}

let stack: ConsentCaptureStack;
let template: Template;
// One synthesis for the read-only assertions; the tests of context build their own.
beforeAll(() => {
  ({ stack, template } = synthStack({ auditRetentionDays: 400 }));
});

/** An L2's resource, or an L1 itself. */
const idOf = (construct: { node: { defaultChild?: unknown } }): string => Stack.of(stack).getLogicalId((construct.node.defaultChild ?? construct) as never);
const propsOf = (construct: { node: { defaultChild?: unknown } }): Json => (template.toJSON()['Resources'][idOf(construct)] as { Properties: Json }).Properties;
const actionsOf = (s: Statement): string[] => [s.Action].flat();
const resourcesOfType = (type: string): Json[] => Object.values(template.findResources(type)).map((r) => (r as { Properties: Json }).Properties);
const trailArn = (): unknown => stack.resolve(stack.audit.trailArn);

describe('the trail', () => {
  it('is multi-Region, validates its log files, records management events read and write, and S3 data events on both data buckets', () => {
    const trail = propsOf(stack.audit.trail);

    expect(trail).toMatchObject({ IsLogging: true, IsMultiRegionTrail: true, EnableLogFileValidation: true, IncludeGlobalServiceEvents: true, TrailName: 'consent-capture-audit' });
    expect(trail['EventSelectors']).toEqual([
      {
        IncludeManagementEvents: true,
        ReadWriteType: 'All',
        DataResources: [
          {
            Type: 'AWS::S3::Object',
            Values: [
              { 'Fn::Join': ['', [{ 'Fn::GetAtt': [idOf(stack.buckets.captures), 'Arn'] }, '/']] },
              { 'Fn::Join': ['', [{ 'Fn::GetAtt': [idOf(stack.buckets.exports), 'Arn'] }, '/']] },
            ],
          },
        ],
      },
    ]);
    expect(trail['KMSKeyId']).toEqual({ 'Fn::GetAtt': [idOf(stack.audit.key), 'Arn'] });
    expect(trail['S3BucketName']).toEqual({ Ref: idOf(stack.audit.bucket) });
  });
});

describe('the audit bucket', () => {
  it('locks every log file in compliance mode for the days of -c auditRetentionDays, versioned', () => {
    const bucket = propsOf(stack.audit.bucket);

    expect(bucket['ObjectLockEnabled']).toBe(true);
    expect(bucket['ObjectLockConfiguration']).toEqual({ ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 400 } } });
    expect(bucket['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
  });

  it('is SSE-KMS under the audit key, blocks public access, and sends its access logs to the log bucket', () => {
    const bucket = propsOf(stack.audit.bucket);

    expect(bucket['BucketEncryption']).toEqual({
      ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [idOf(stack.audit.key), 'Arn'] } } }],
    });
    expect(bucket['PublicAccessBlockConfiguration']).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket['LoggingConfiguration']).toEqual({ DestinationBucketName: { Ref: idOf(stack.buckets.accessLogs) }, LogFilePrefix: 'audit-bucket/' });
  });

  it('refuses every request without TLS, and lets CloudTrail write only for this trail', () => {
    const policy = resourcesOfType('AWS::S3::BucketPolicy').find((p) => JSON.stringify(p['Bucket']) === JSON.stringify({ Ref: idOf(stack.audit.bucket) }));
    const statements = (policy?.['PolicyDocument'] as { Statement: Statement[] }).Statement;

    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    const cloudTrail = statements.filter((s) => JSON.stringify(s.Principal).includes('cloudtrail.amazonaws.com'));
    expect(cloudTrail.map((s) => actionsOf(s)).flat().sort()).toEqual(['s3:GetBucketAcl', 's3:PutObject']);
    for (const s of cloudTrail) expect(s.Condition?.['StringEquals']?.['aws:SourceArn']).toEqual(trailArn());
  });
});

describe('the audit key', () => {
  it('admits CloudTrail (this trail only) and the auditor role to cryptography, and nobody else', () => {
    const statements = (propsOf(stack.audit.key)['KeyPolicy'] as { Statement: Statement[] }).Statement;
    const crypto = /^kms:(Decrypt|Encrypt|GenerateDataKey|ReEncrypt|CreateGrant|\*)/;
    const auditor = { 'Fn::GetAtt': [idOf(stack.audit.auditor), 'Arn'] };

    const users = statements.filter((s) => actionsOf(s).some((a) => crypto.test(a)));
    expect(users.map((s) => s.Principal)).toEqual([{ Service: 'cloudtrail.amazonaws.com' }, { AWS: auditor }]);
    expect(users[0]?.Condition).toEqual({
      StringEquals: { 'aws:SourceArn': trailArn() },
      StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudtrail:*:', { Ref: 'AWS::AccountId' }, ':trail/*']] } },
    });
    expect(users[1]?.Condition).toEqual({ StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]] } } });
    // The account administers the key, which CloudFormation needs, with no way to use it.
    const principals = new Set(statements.map((s) => JSON.stringify(s.Principal)));
    expect(principals.size).toBe(3);
  });
});

describe('Athena', () => {
  it('has a workgroup that enforces SSE-KMS results under the audit key in the results bucket', () => {
    const workGroup = propsOf(stack.audit.workGroup);

    expect(workGroup['WorkGroupConfiguration']).toMatchObject({
      EnforceWorkGroupConfiguration: true,
      ResultConfiguration: {
        EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: { 'Fn::GetAtt': [idOf(stack.audit.key), 'Arn'] } },
        OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: idOf(stack.audit.resultsBucket) }, '/athena/']] },
      },
    });
  });

  it('has a Glue table over the trail with the contract\'s columns and partition projection on region and date', () => {
    const input = propsOf(stack.audit.table)['TableInput'] as Json & { Parameters: Record<string, string>; StorageDescriptor: Json };

    expect(propsOf(stack.audit.table)['DatabaseName']).toBe(AUDIT_DATABASE);
    expect(input['Name']).toBe(CLOUDTRAIL_TABLE);
    expect(input.StorageDescriptor['Columns']).toEqual(CLOUDTRAIL_COLUMNS.map((c) => ({ Name: c.name, Type: c.type })));
    expect(input['PartitionKeys']).toEqual([{ Name: 'region', Type: 'string' }, { Name: 'timestamp', Type: 'string' }]);
    expect(input.StorageDescriptor).toMatchObject({
      InputFormat: 'com.amazon.emr.cloudtrail.CloudTrailInputFormat',
      SerdeInfo: { SerializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' },
    });
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.region.type': 'enum',
      'projection.timestamp.type': 'date',
      'projection.timestamp.format': 'yyyy/MM/dd',
    });
    expect(input.Parameters['projection.region.values']?.split(',')).toEqual(expect.arrayContaining(['us-east-1', 'eu-west-1']));
    expect(JSON.stringify(input.Parameters['storage.location.template'])).toContain('/CloudTrail/${region}/${timestamp}');
  });

  it('has one named query per entry of AUDIT_QUERIES, each with the contract\'s text', () => {
    const queries = resourcesOfType('AWS::Athena::NamedQuery');

    expect(queries).toHaveLength(AUDIT_QUERIES.length);
    for (const query of AUDIT_QUERIES) {
      expect(queries).toContainEqual(
        expect.objectContaining({ Name: query.name, QueryString: query.sql, Database: AUDIT_DATABASE, WorkGroup: { Ref: idOf(stack.audit.workGroup) } }),
      );
    }
  });

  it('makes a named query of each query it is given, in the audit workgroup, and refuses a name given twice', () => {
    const queries: AuditQuery[] = [
      { name: 'denied-calls', description: 'Calls KMS refused.', sql: 'SELECT eventtime FROM cloudtrail WHERE errorcode IS NOT NULL', parameters: [] },
      { name: 'key-timeline', description: 'One key.', sql: "SELECT eventname FROM cloudtrail WHERE json_extract_scalar(requestparameters, '$.keyId') = ?", parameters: ['keyArn'] },
    ];
    const build = (given: AuditQuery[]) => {
      const bare = new Stack(testApp(), 'Bare');
      const bucket = new s3.Bucket(bare, 'Data');
      const construct = new AuditTrail(bare, 'Audit', {
        namePrefix: 'cc',
        retentionDays: 30,
        dataEventBuckets: [bucket],
        accessLogsBucket: new s3.Bucket(bare, 'Logs'),
        ledger: new dynamodb.Table(bare, 'Ledger', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } }),
        queries: given,
      });
      return { bare, construct };
    };

    const { bare, construct } = build(queries);

    expect([...construct.namedQueries.keys()]).toEqual(['denied-calls', 'key-timeline']);
    for (const query of queries) {
      expect(bare.resolve((construct.namedQueries.get(query.name)?.queryString))).toBe(query.sql);
      expect(bare.resolve(construct.namedQueries.get(query.name)?.workGroup)).toEqual({ Ref: bare.getLogicalId(construct.workGroup) });
    }
    expect(() => build([...queries, queries[0] as AuditQuery])).toThrow('audit query "denied-calls" is declared twice');
  });
});

describe('the auditor role', () => {
  const auditorStatements = (): Statement[] =>
    resourcesOfType('AWS::IAM::Policy')
      .filter((p) => JSON.stringify(p['Roles']) === JSON.stringify([{ Ref: idOf(stack.audit.auditor) }]))
      .flatMap((p) => (p['PolicyDocument'] as { Statement: Statement[] }).Statement);

  it('has a fixed name like the function roles', () => {
    expect(propsOf(stack.audit.auditor)['RoleName']).toBe('consent-capture-auditor');
  });

  it('may Query and GetItem the ledger and nothing else of DynamoDB', () => {
    const dynamo = auditorStatements().filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));

    expect(dynamo).toHaveLength(1);
    expect(actionsOf(dynamo[0] as Statement).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(dynamo[0]?.Resource).toEqual({ 'Fn::GetAtt': [idOf(stack.ledger.table), 'Arn'] });
  });

  it('reads the trail and its query results, and nothing of the captures or exports, with no KMS use by IAM', () => {
    const statements = auditorStatements();
    const text = JSON.stringify(statements);

    expect(text).not.toContain(idOf(stack.buckets.captures));
    expect(text).not.toContain(idOf(stack.buckets.exports));
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('kms:')).sort()).toEqual(['kms:ListAliases', 'kms:ListKeys']);
    expect(statements.flatMap(actionsOf).filter((a) => a.includes('*'))).toEqual([]);
    const s3Writes = statements.filter((s) => actionsOf(s).some((a) => a === 's3:PutObject'));
    expect(s3Writes.map((s) => s.Resource)).toEqual([{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [idOf(stack.audit.resultsBucket), 'Arn'] }, '/athena/*']] }]);
  });
});

describe('EventBridge rules on CloudTrail', () => {
  const ruleProps = (rule: { node: { defaultChild?: unknown } }) => propsOf(rule) as Json & { EventPattern: Json & { detail: Json }; Targets: Json[] };

  it('send every PutKeyPolicy to the policy-watch queue, undeliverable ones to a dead-letter queue', () => {
    const rule = ruleProps(stack.auditAlarms.keyPolicyWrites);

    expect(rule.EventPattern).toEqual({ source: [...KEY_POLICY_WRITE_PATTERN.source], 'detail-type': [...KEY_POLICY_WRITE_PATTERN.detailType], detail: { eventSource: ['kms.amazonaws.com'], eventName: ['PutKeyPolicy'] } });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [idOf(stack.queues.policyWatch.queue), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [idOf(stack.auditAlarms.deadLetterQueue), 'Arn'] } },
      }),
    ]);
    // The queue admits EventBridge for this rule only.
    const queuePolicy = resourcesOfType('AWS::SQS::QueuePolicy').find((p) => JSON.stringify(p['Queues']) === JSON.stringify([{ Ref: idOf(stack.queues.policyWatch.queue) }]));
    const fromEvents = (queuePolicy?.['PolicyDocument'] as { Statement: Statement[] }).Statement.filter((st) => JSON.stringify(st.Principal).includes('events.amazonaws.com'));
    expect(fromEvents.map((st) => st.Condition)).toEqual([{ ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [idOf(stack.auditAlarms.keyPolicyWrites), 'Arn'] } } }]);
  });

  it('alarm on Decrypt or CreateGrant on an employee key by anyone but the export and training roles and the key steward, read-only events included', () => {
    const rule = ruleProps(stack.auditAlarms.foreignKeyUse);
    const roleArn = (role: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [idOf(role), 'Arn'] });

    expect(rule['State']).toBe(ALL_MANAGEMENT_EVENTS_STATE);
    expect(rule.EventPattern.detail).toMatchObject({
      eventSource: ['kms.amazonaws.com'],
      eventName: ['Decrypt', 'CreateGrant'],
      userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': [roleArn(stack.roles.export), roleArn(stack.roles.steward), roleArn(stack.roles.training)] }] } } },
    });
    expect(JSON.stringify(rule.EventPattern.detail['$or'])).toContain('employeeId');
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { Ref: idOf(stack.alarms.topic) } })]);
    // IAM users and the root have no session issuer: a second rule, also on read-only events.
    const outsideRoles = resourcesOfType('AWS::Events::Rule').find((r) => r['Name'] === 'consent-capture-key-use-user');
    expect(outsideRoles).toMatchObject({ State: ALL_MANAGEMENT_EVENTS_STATE, EventPattern: { detail: { userIdentity: { type: [{ 'anything-but': ['AssumedRole', 'AWSService'] }] } } } });
  });

  it('alarm when the audit trail is stopped, deleted or its selectors or settings change', () => {
    const rule = ruleProps(stack.auditAlarms.trailTampering);

    expect(rule.EventPattern).toMatchObject({ source: ['aws.cloudtrail'], detail: { eventSource: ['cloudtrail.amazonaws.com'] } });
    expect(rule.EventPattern.detail['eventName']).toEqual(expect.arrayContaining(['StopLogging', 'DeleteTrail', 'PutEventSelectors', 'UpdateTrail']));
    expect(rule.EventPattern.detail['requestParameters']).toEqual({ name: ['consent-capture-audit', trailArn()] });
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { Ref: idOf(stack.alarms.topic) } })]);
  });

  it('publish to the encrypted topic through a role of their own, never as the EventBridge service at large', () => {
    const keyStatements = (propsOf(stack.alarms.topicKey)['KeyPolicy'] as { Statement: Statement[] }).Statement;
    const topicRules = [stack.auditAlarms.foreignKeyUse, stack.auditAlarms.trailTampering].map(ruleProps);

    expect(JSON.stringify(keyStatements)).not.toContain('events.amazonaws.com');
    for (const rule of topicRules) expect(rule.Targets[0]?.['RoleArn']).toEqual({ 'Fn::GetAtt': [idOf(stack.auditAlarms.topicPublisher), 'Arn'] });
  });
});

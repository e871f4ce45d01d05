import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { API_ROUTES, routeKey } from '../../contract/routes.js';
import type { RoleName } from '../../contract/roles.js';
import { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { HttpApi } from '../../lib/constructs/http-api.js';
import { ENV } from '../../contract/environment.js';
import { REQUIRED_CONTEXT, synthStack, testApp } from './fixtures/test-app.js';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }>;

function logicalIdOf(template: Template, type: string, props: Record<string, unknown>): string {
  const ids = Object.keys(template.findResources(type, { Properties: props }));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

function functionEnvironment(template: Template, fn: IConstruct): Record<string, unknown> {
  const resources = template.toJSON()['Resources'] as Record<string, { Properties: { Environment: { Variables: Record<string, unknown> } } }>;
  const resource = resources[idOf(fn)];
  expect(resource).toBeDefined();
  return resource?.Properties.Environment.Variables ?? {};
}

/** The logical id of an L2 construct's CloudFormation resource. */
function idOf(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
}

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Every statement of every policy attached to the role. */
function statementsOf(template: Template, role: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy') as Resources)
    .filter((p) => JSON.stringify(p.Properties?.['Roles']).includes(`"${role}"`))
    .flatMap((p) => (p.Properties?.['PolicyDocument'] as { Statement: Statement[] }).Statement);
}

function roleId(stack: ConsentCaptureStack, name: RoleName): string {
  return idOf(stack.roles.role(name));
}

describe('ledger table', () => {
  it('is keyed by pk and sk strings, on demand, with PITR, deletion protection and encryption', () => {
    const { stack, template } = synthStack();

    // The ledger, ingest's batch claims, the export jobs and the datasets.
    template.resourceCountIs('AWS::DynamoDB::Table', 4);
    expect(template.toJSON()['Resources'][idOf(stack.ledger.table)]).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: expect.arrayContaining([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ]),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      },
    });
  });

  it('can be appended to by the consent, purge and export roles, never updated or deleted, and only read by ingest', () => {
    const { stack, template } = synthStack();
    const table = idOf(stack.ledger.table);
    const policies = template.findResources('AWS::IAM::Policy') as Resources;
    const tableActionsOf = (role: string): string[] =>
      Object.values(policies)
        .filter((p) => JSON.stringify(p.Properties?.['Roles']).includes(`"${role}"`))
        .flatMap((p) => (p.Properties?.['PolicyDocument'] as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement)
        .filter((s) => JSON.stringify(s.Resource).includes(table))
        .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

    for (const writer of ['consent', 'purge', 'export'] as const) {
      const actions = tableActionsOf(roleId(stack, writer));
      expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:GetItem']));
      expect(actions.filter((a) => /Update|Delete|BatchWrite|\*/.test(a))).toEqual([]);
    }
    expect(tableActionsOf(roleId(stack, 'ingest'))).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem']));
    expect(tableActionsOf(roleId(stack, 'ingest')).filter((a) => /Put|Update|Delete|Write/.test(a))).toEqual([]);
  });
});

describe('buckets', () => {
  const dataBucket = (template: Template, prefix: string) =>
    logicalIdOf(template, 'AWS::S3::Bucket', { LoggingConfiguration: { LogFilePrefix: prefix } });

  it('block public access, encrypt with SSE-S3 and log to the access-log bucket', () => {
    const { stack, template } = synthStack();
    const accessLogs = idOf(stack.buckets.accessLogs);

    for (const prefix of ['captures-bucket/', 'exports-bucket/']) {
      template.hasResourceProperties('AWS::S3::Bucket', {
        LoggingConfiguration: { DestinationBucketName: { Ref: accessLogs }, LogFilePrefix: prefix },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      });
    }
  });

  it('deny every request that is not over TLS 1.2 or later, on all five buckets (data, access logs, audit trail and query results)', () => {
    const { template } = synthStack();
    const buckets = Object.keys(template.findResources('AWS::S3::Bucket'));

    expect(buckets).toHaveLength(5);
    for (const bucket of buckets) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          ]),
        },
      });
    }
  });

  it('expire captures after retentionDays (365 by default) and exports after one day', () => {
    const { template } = synthStack();

    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: 'captures-bucket/' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 365, Status: 'Enabled' })]) },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: 'exports-bucket/' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 1, Status: 'Enabled' })]) },
    });
  });

  it('take the captures expiry from the retentionDays context', () => {
    const { template } = synthStack({ retentionDays: '30' });

    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: 'captures-bucket/' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 30 })]) },
    });
  });

  it('keep versioning off on captures and exports, so a purge really deletes', () => {
    const { template } = synthStack();

    for (const prefix of ['captures-bucket/', 'exports-bucket/']) {
      template.hasResourceProperties('AWS::S3::Bucket', {
        LoggingConfiguration: { LogFilePrefix: prefix },
        VersioningConfiguration: Match.absent(),
      });
    }
  });

  it('let the purge role list and delete only under the captures/ and exports/ prefixes', () => {
    const { stack, template } = synthStack();
    const captures = dataBucket(template, 'captures-bucket/');
    const exportsBucket = dataBucket(template, 'exports-bucket/');

    const purgeStatement = (statement: Record<string, unknown>) =>
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: roleId(stack, 'purge') }],
        PolicyDocument: { Statement: Match.arrayWith([statement]) },
      });

    purgeStatement({
      Effect: 'Allow',
      Action: 's3:DeleteObject',
      Resource: [
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [captures, 'Arn'] }, '/captures/*']] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [exportsBucket, 'Arn'] }, '/exports/*']] },
      ],
    });
    purgeStatement({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [captures, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['captures/*'] } },
    });
    purgeStatement({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [exportsBucket, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['exports/*'] } },
    });
  });

  it('give the consent role only GetObject under exports/, to sign download URLs', () => {
    const { stack, template } = synthStack();
    const statements = statementsOf(template, roleId(stack, 'consent')).filter((st) => JSON.stringify(st.Action).includes('s3:'));

    expect(statements).toEqual([{ Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [idOf(stack.buckets.exports), 'Arn'] }, '/exports/*']] } }]);
  });
});

describe('job queues', () => {
  it('redrives to an encrypted DLQ after 5 receives, with SQS-managed encryption', () => {
    const { stack, template } = synthStack();
    const dlq = idOf(stack.purgeQueue.deadLetterQueue);

    // Purge, key-sync, export, datasets and policy-watch, each with its DLQ, and the DLQ of the CloudTrail rules' targets.
    template.resourceCountIs('AWS::SQS::Queue', 11);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, RedrivePolicy: Match.absent() });
  });

  it('denies requests without TLS on every queue', () => {
    const { template } = synthStack();
    const queues = Object.keys(template.findResources('AWS::SQS::Queue'));

    for (const queue of queues) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queue }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('has a visibility timeout of at least six times the purge function timeout', () => {
    const { stack, template } = synthStack();
    const queue = idOf(stack.purgeQueue.queue);
    const purgeFn = idOf(stack.purgeFunction.fn);
    const resources = template.toJSON()['Resources'] as Resources;

    const visibility = resources[queue]?.Properties?.['VisibilityTimeout'] as number;
    const timeout = resources[purgeFn]?.Properties?.['Timeout'] as number;
    expect(timeout).toBeGreaterThan(0);
    expect(visibility).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('is consumed by the purge function with partial batch failure reporting', () => {
    const { stack, template } = synthStack();
    const queue = idOf(stack.purgeQueue.queue);
    const purgeFn = idOf(stack.purgeFunction.fn);

    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 5);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
      FunctionName: { Ref: purgeFn },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('feeds key-sync jobs to a key-sync function that runs as the steward role, at bounded concurrency', () => {
    const { stack, template } = synthStack();
    const resources = template.toJSON()['Resources'] as Resources;

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [idOf(stack.keySyncQueue.queue), 'Arn'] },
      FunctionName: { Ref: idOf(stack.keySyncFunction.fn) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(resources[idOf(stack.keySyncFunction.fn)]?.Properties?.['Role']).toEqual({ 'Fn::GetAtt': [roleId(stack, 'steward'), 'Arn'] });
  });

  it('accepts messages from the consent role, on both queues', () => {
    const { stack, template } = synthStack();
    const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId(stack, 'consent') }] } })) as Array<{
      Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } };
    }>;

    const sendTargets = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st) => [st.Action].flat().includes('sqs:SendMessage'))
      .flatMap((st) => [st.Resource].flat());

    expect(sendTargets).toEqual(
      expect.arrayContaining([{ 'Fn::GetAtt': [idOf(stack.purgeQueue.queue), 'Arn'] }, { 'Fn::GetAtt': [idOf(stack.keySyncQueue.queue), 'Arn'] }]),
    );
  });
});

describe('functions', () => {
  it('all run nodejs24.x on arm64 with active tracing, source maps and their own log group', () => {
    const { template } = synthStack();
    const functions = template.findResources('AWS::Lambda::Function') as Resources;

    expect(Object.keys(functions).length).toBeGreaterThanOrEqual(2);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
      });
    }
  });

  it('give the consent function the ledger, both queues, the key steward\'s name and the employee-id claim, and no role ARN', () => {
    const { stack, template } = synthStack();
    const env = functionEnvironment(template, stack.consentFunction.fn);

    expect(env).toMatchObject({
      [ENV.ledgerTable]: { Ref: idOf(stack.ledger.table) },
      [ENV.purgeQueueUrl]: { Ref: idOf(stack.purgeQueue.queue) },
      [ENV.keySyncQueueUrl]: { Ref: idOf(stack.keySyncQueue.queue) },
      [ENV.keyStewardFunction]: { Ref: idOf(stack.keyStewardFunction.fn) },
      [ENV.employeeIdClaim]: 'sub',
    });
    // It builds no key policy, so it needs no role ARN.
    expect(Object.keys(env).filter((name) => name.endsWith('_ROLE_ARN'))).toEqual([]);
  });

  it('give the key steward the ledger and every role ARN its key policies name', () => {
    const { stack, template } = synthStack();
    const env = functionEnvironment(template, stack.keyStewardFunction.fn);

    expect(env).toMatchObject({
      [ENV.ledgerTable]: { Ref: idOf(stack.ledger.table) },
      [ENV.ingestRoleArn]: { 'Fn::GetAtt': [roleId(stack, 'ingest'), 'Arn'] },
      [ENV.stewardRoleArn]: { 'Fn::GetAtt': [roleId(stack, 'steward'), 'Arn'] },
      [ENV.exportRoleArn]: { 'Fn::GetAtt': [roleId(stack, 'export'), 'Arn'] },
      [ENV.purgeRoleArn]: { 'Fn::GetAtt': [roleId(stack, 'purge'), 'Arn'] },
    });
    expect(env).not.toHaveProperty(ENV.auditorRoleArn);
  });

  it('pass the auditor role ARN to the key steward, and a custom employee-id claim to the consent function, from context', () => {
    const auditor = 'arn:aws:iam::123456789012:role/compliance-auditor';
    const { stack, template } = synthStack({ auditorRoleArn: auditor, employeeIdClaim: 'employee_id' });

    expect(functionEnvironment(template, stack.keyStewardFunction.fn)[ENV.auditorRoleArn]).toBe(auditor);
    expect(functionEnvironment(template, stack.consentFunction.fn)[ENV.employeeIdClaim]).toBe('employee_id');
  });

  it('give the purge function the ledger, both buckets and the key deletion days from context', () => {
    const { stack, template } = synthStack({ keyDeletionDays: 21 });
    const env = functionEnvironment(template, stack.purgeFunction.fn);

    expect(env).toMatchObject({
      [ENV.ledgerTable]: { Ref: idOf(stack.ledger.table) },
      [ENV.capturesBucket]: { Ref: idOf(stack.buckets.captures) },
      [ENV.exportsBucket]: { Ref: idOf(stack.buckets.exports) },
      [ENV.keyDeletionDays]: '21',
    });
  });

  it('default the purge key deletion window to 7 days', () => {
    const { stack, template } = synthStack();

    expect(functionEnvironment(template, stack.purgeFunction.fn)[ENV.keyDeletionDays]).toBe('7');
  });
  // The bundled synthesis (esbuild, ESM, linked source maps) is checked in function-bundles.test.ts,
  // which synthesizes the app with bundling once for all its tests.
});

describe('roles', () => {
  it('are one Lambda role per function (ingest, consent, export, purge, steward, datasets, policy-watch), kept when the stack goes', () => {
    const { template } = synthStack();
    const all = template.findResources('AWS::IAM::Role') as Resources;
    // Besides them: the training role (training jobs), the two sweep schedules' roles (Scheduler:
    // datasets, exports), the auditor (people) and the CloudTrail rules' topic publisher (EventBridge).
    const roles = template.findResources('AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'lambda.amazonaws.com' } }] } } }) as Resources;

    expect(Object.keys(all)).toHaveLength(12);
    expect(Object.keys(roles)).toHaveLength(7);
    for (const role of Object.values(roles)) {
      expect(role.DeletionPolicy).toBe('Retain');
      expect(role.Properties?.['AssumeRolePolicyDocument']).toMatchObject({
        Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } }],
      });
      expect(role.Properties?.['ManagedPolicyArns']).toBeUndefined();
    }
  });

  it('let training jobs assume the training role: SageMaker of this account by default, or the principal from context', () => {
    const trust = (template: Template, stack: ConsentCaptureStack) => (template.toJSON()['Resources'] as Resources)[idOf(stack.roles.training)];
    const byDefault = synthStack();
    expect(trust(byDefault.template, byDefault.stack)).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        RoleName: 'consent-capture-training',
        AssumeRolePolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: 'sagemaker.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }] },
      },
    });
    const fromContext = synthStack({ trainingPrincipalArn: 'arn:aws:iam::123456789012:role/sagemaker-execution' });
    expect(trust(fromContext.template, fromContext.stack)?.Properties?.['AssumeRolePolicyDocument']).toMatchObject({
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: 'arn:aws:iam::123456789012:role/sagemaker-execution' } }],
    });
  });

  it('give the training role no KMS permission: only training grants decrypt', () => {
    const { stack, template } = synthStack();
    const policies = Object.values(template.findResources('AWS::IAM::Policy') as Resources).filter((p) => JSON.stringify(p.Properties?.['Roles']).includes(idOf(stack.roles.training)));
    expect(policies.length).toBeGreaterThan(0);
    expect(JSON.stringify(policies)).not.toContain('kms:');
  });

  it('queue a sweep on the datasets queue every hour, through EventBridge Scheduler', () => {
    const { stack, template } = synthStack();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: { Arn: { 'Fn::GetAtt': [idOf(stack.queues.datasets.queue), 'Arn'] }, Input: JSON.stringify({ kind: 'sweep' }) },
    });
  });

  it('queue an export sweep on the key-sync queue every hour, through EventBridge Scheduler, with a role that may only send there', () => {
    const { stack, template } = synthStack();
    const queueArn = { 'Fn::GetAtt': [idOf(stack.queues.keySync.queue), 'Arn'] };
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: { Arn: queueArn, Input: JSON.stringify({ kind: 'expire-exports' }), RoleArn: { 'Fn::GetAtt': [idOf(stack.exportExpiry.role), 'Arn'] } },
    });
    expect(statementsOf(template, idOf(stack.exportExpiry.role))).toEqual([{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queueArn }]);
  });

  it('run each function under its own role', () => {
    const { stack } = synthStack();

    expect(stack.consentFunction.fn.role).toBe(stack.roles.consent);
    expect(stack.purgeFunction.fn.role).toBe(stack.roles.purge);
  });
});

describe('HTTP API', () => {
  it('has exactly the routes of API_ROUTES, each behind the JWT authorizer with its scopes', () => {
    const { template } = synthStack();
    const authorizer = logicalIdOf(template, 'AWS::ApiGatewayV2::Authorizer', {});
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route') as Resources).map((r) => r.Properties ?? {});

    expect(routes.map((r) => r['RouteKey']).sort()).toEqual(API_ROUTES.map(routeKey).sort());
    for (const route of API_ROUTES) {
      const deployed = routes.find((r) => r['RouteKey'] === routeKey(route));
      expect(deployed).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizer },
        AuthorizationScopes: [...route.scopes],
      });
    }
  });

  it('sends every route to the function API_ROUTES names, with payload format 2.0', () => {
    const { stack, template } = synthStack();
    const functionIds: Record<string, string> = { consent: idOf(stack.consentFunction.fn), ingest: idOf(stack.ingestFunction.fn) };
    const resources = template.toJSON()['Resources'] as Resources;
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route') as Resources).map((r) => r.Properties ?? {});

    for (const route of API_ROUTES) {
      const deployed = routes.find((r) => r['RouteKey'] === routeKey(route));
      const target = deployed?.['Target'] as { 'Fn::Join': [string, [string, { Ref: string }]] };
      const integration = resources[target['Fn::Join'][1][1].Ref]?.Properties;
      expect(integration).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [functionIds[route.function], 'Arn'] },
      });
    }
  });

  it('takes the JWT issuer and audience from context', () => {
    const { template } = synthStack({ oidcIssuer: 'https://idp.corp.example/oauth2/default', oidcAudience: 'api://consent, agent' });

    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://idp.corp.example/oauth2/default', Audience: ['api://consent', 'agent'] },
    });
  });

  it('logs access as JSON and throttles its default stage', () => {
    const { template } = synthStack();
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage') as Resources);

    expect(stage).toHaveLength(1);
    const props = stage[0]?.Properties as {
      StageName: string;
      AutoDeploy: boolean;
      AccessLogSettings: { Format: string; DestinationArn: unknown };
      DefaultRouteSettings: { ThrottlingRateLimit: number; ThrottlingBurstLimit: number };
    };
    expect(props.StageName).toBe('$default');
    expect(props.AutoDeploy).toBe(true);
    expect(JSON.parse(props.AccessLogSettings.Format)).toMatchObject({ requestId: '$context.requestId', routeKey: '$context.routeKey' });
    expect(props.DefaultRouteSettings.ThrottlingRateLimit).toBeGreaterThan(0);
    expect(props.DefaultRouteSettings.ThrottlingBurstLimit).toBeGreaterThan(0);
  });

  it('fails synth when a route names a function the stack does not build', () => {
    const app = testApp();
    const stack = new ConsentCaptureStack(app, 'ConsentCapture');

    expect(
      () =>
        new HttpApi(stack, 'Extra', {
          routes: [{ method: 'POST', path: '/v1/events', function: 'ingest', scopes: ['capture:write'], responses: {} }],
          handlers: { consent: stack.consentFunction.fn },
          jwtIssuer: REQUIRED_CONTEXT.oidcIssuer,
          jwtAudience: [REQUIRED_CONTEXT.oidcAudience],
        }),
    ).toThrow(/route "POST \/v1\/events" is served by the "ingest" function, which the stack does not build/);
  });
});

describe('outputs', () => {
  it('name the API URL, table, buckets, queue and every role ARN', () => {
    const { template } = synthStack();

    expect(Object.keys(template.toJSON()['Outputs'] as object)).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'LedgerTableName',
        'CapturesBucketName',
        'ExportsBucketName',
        'PurgeQueueUrl',
        'IngestRoleArn',
        'ConsentRoleArn',
        'ExportRoleArn',
        'PurgeRoleArn',
      ]),
    );
  });
});

describe('ingest', () => {
  it('may only put objects under captures/, and read nothing from S3', () => {
    const { stack, template } = synthStack();
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId(stack, 'ingest') }] } }) as Resources;

    const s3Statements = Object.values(policies)
      .flatMap((p) => (p.Properties?.['PolicyDocument'] as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement)
      .filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:')));

    const actions = s3Statements.flatMap((st) => [st.Action].flat());
    expect(actions).toContain('s3:PutObject');
    expect(actions.filter((a) => /Get|List|Delete/.test(a))).toEqual([]);
    expect(JSON.stringify(s3Statements.map((st) => st.Resource))).toContain('/captures/*');
    expect(JSON.stringify(s3Statements.map((st) => st.Resource))).not.toContain(idOf(stack.buckets.exports));
  });

  it('claims batches in a table whose items expire by TTL', () => {
    const { stack, template } = synthStack();

    expect(template.toJSON()['Resources'][idOf(stack.batches.table)]).toMatchObject({
      Properties: { TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true }, BillingMode: 'PAY_PER_REQUEST' },
    });
  });

  it('may on the batches table only what batch-claims.ts calls: PutItem, GetItem, UpdateItem, DeleteItem', () => {
    const { stack, template } = synthStack();
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId(stack, 'ingest') }] } }) as Resources;
    const batchesArn = { 'Fn::GetAtt': [idOf(stack.batches.table), 'Arn'] };

    const onBatches = Object.values(policies)
      .flatMap((p) => (p.Properties?.['PolicyDocument'] as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement)
      .filter((st) => JSON.stringify(st.Resource).includes(JSON.stringify(batchesArn)));

    expect(onBatches.flatMap((st) => [st.Action].flat()).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  });

  it('gets the ledger, batches table, captures bucket and employee-id claim, and nothing about keys', () => {
    const { stack, template } = synthStack();
    const env = functionEnvironment(template, stack.ingestFunction.fn);

    expect(env).toMatchObject({
      [ENV.ledgerTable]: { Ref: idOf(stack.ledger.table) },
      [ENV.batchesTable]: { Ref: idOf(stack.batches.table) },
      [ENV.capturesBucket]: { Ref: idOf(stack.buckets.captures) },
      [ENV.employeeIdClaim]: 'sub',
    });
    expect(Object.keys(env).filter((name) => /ROLE_ARN|KMS|KEY/.test(name))).toEqual([]);
  });
});

describe('export', () => {
  it('gives the export role no KMS permission of its own: the one-off grant is its only way to decrypt', () => {
    const { stack, template } = synthStack();
    const actions = statementsOf(template, roleId(stack, 'export')).flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));

    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => a.startsWith('kms:') || a === '*')).toEqual([]);
  });

  it('lets the export role list and read under captures/ and write under exports/, and nothing else in S3', () => {
    const { stack, template } = synthStack();
    const captures = idOf(stack.buckets.captures);
    const exportsBucket = idOf(stack.buckets.exports);
    const s3 = statementsOf(template, roleId(stack, 'export')).filter((st) => JSON.stringify(st.Action).includes('s3:'));

    expect(s3).toEqual(
      expect.arrayContaining([
        { Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [captures, 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['captures/*'] } } },
        { Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [captures, 'Arn'] }, '/captures/*']] } },
        { Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:PutObject'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [exportsBucket, 'Arn'] }, '/exports/*']] } },
      ]),
    );
    expect(s3).toHaveLength(3);
  });

  it('keeps export jobs in a table with PITR and TTL, which the export role may read and update but not delete', () => {
    const { stack, template } = synthStack();
    const table = idOf(stack.exportJobs.table);
    expect(template.toJSON()['Resources'][table]).toMatchObject({
      Properties: { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } },
    });
    const onTable = (role: string) =>
      statementsOf(template, role)
        .filter((st) => JSON.stringify(st.Resource).includes(table))
        .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));

    expect(onTable(roleId(stack, 'export')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    expect(onTable(roleId(stack, 'consent')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    // The export sweep (key-sync, the steward role): find unfinished jobs, mark expired ones failed.
    expect(onTable(roleId(stack, 'steward')).sort()).toEqual(['dynamodb:Scan', 'dynamodb:UpdateItem']);
  });

  it('gives the key-sync function (the export sweep) the export jobs table, and the key-steward function not', () => {
    const { stack, template } = synthStack();

    expect(functionEnvironment(template, stack.keySyncFunction.fn)[ENV.exportsTable]).toEqual({ Ref: idOf(stack.exportJobs.table) });
    expect(functionEnvironment(template, stack.keyStewardFunction.fn)[ENV.exportsTable]).toBeUndefined();
  });

  it('feeds export jobs one at a time to the export function, running as the export role, after 3 receives to a DLQ', () => {
    const { stack, template } = synthStack();
    const resources = template.toJSON()['Resources'] as Resources;
    const queue = resources[idOf(stack.exportQueue.queue)]?.Properties ?? {};
    const fn = resources[idOf(stack.exportFunction.fn)]?.Properties ?? {};

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [idOf(stack.exportQueue.queue), 'Arn'] },
      FunctionName: { Ref: idOf(stack.exportFunction.fn) },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(fn['Role']).toEqual({ 'Fn::GetAtt': [roleId(stack, 'export'), 'Arn'] });
    expect(queue['RedrivePolicy']).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [idOf(stack.exportQueue.deadLetterQueue), 'Arn'] }, maxReceiveCount: 3 });
    expect(queue['VisibilityTimeout']).toBeGreaterThanOrEqual(6 * (fn['Timeout'] as number));
  });
});

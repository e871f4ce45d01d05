import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CfnElement, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { FunctionDefaults, type FunctionDefaultsProps } from '../../lib/constructs/function-defaults.js';
import { testApp } from './fixtures/test-app.js';

const FIXTURE_ENTRY = fileURLToPath(new URL('./fixtures/handler.ts', import.meta.url));

function build(props: Partial<FunctionDefaultsProps> = {}, options: { bundle?: boolean; outdir?: string } = {}) {
  const app = testApp({}, options);
  const stack = new Stack(app, 'Fixture');
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  const fn = new FunctionDefaults(stack, 'Worker', { entry: FIXTURE_ENTRY, role, invocation: { kind: 'http' }, ...props });
  return { app, stack, role, fn };
}

const idOf = (stack: Stack, element: unknown) => stack.getLogicalId(element as CfnElement);

describe('FunctionDefaults', () => {
  it('builds a nodejs24.x arm64 function with explicit memory, timeout and active tracing', () => {
    const { stack } = build();

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 15,
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
    });
  });

  it('writes JSON logs to its own log group with a retention', () => {
    const { stack, fn } = build();
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: idOf(stack, fn.logGroup.node.defaultChild) } },
    });
  });

  it('lets its role write only to its own log group, with no managed policy', () => {
    const { stack, role, fn } = build();
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: idOf(stack, role.node.defaultChild) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [idOf(stack, fn.logGroup.node.defaultChild), 'Arn'] },
          },
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('merges the given environment over the defaults instead of replacing them', () => {
    const { stack, fn } = build({ environment: { TABLE: 'ledger', POWERTOOLS_SERVICE_NAME: 'custom' } });
    fn.addEnvironment('LATER', 'yes');

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_METRICS_NAMESPACE: 'ConsentCapture',
          POWERTOOLS_SERVICE_NAME: 'custom',
          TABLE: 'ledger',
          LATER: 'yes',
        },
      },
    });
  });

  it('honours a given memory size and timeout', () => {
    const { stack } = build({ memorySize: 1024, timeout: Duration.minutes(2) });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, Timeout: 120 });
  });

  it('rejects a memory size Lambda does not offer, naming the function and the range', () => {
    expect(() => build({ memorySize: 64 })).toThrow('function "Worker": memorySize must be an integer from 128 to 10240 MB, got 64');
  });

  it('consumes a queue with partial batch failure reporting when invoked by SQS', () => {
    const app = testApp();
    const stack = new Stack(app, 'Fixture');
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    const queue = new sqs.Queue(stack, 'Jobs');
    new FunctionDefaults(stack, 'Worker', { entry: FIXTURE_ENTRY, role, invocation: { kind: 'queue', queue, batchSize: 3 } });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [idOf(stack, queue.node.defaultChild), 'Arn'] },
      BatchSize: 3,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('parks failed asynchronous invocations in an encrypted DLQ, as DLQ and on-failure destination', () => {
    const { stack, fn } = build({ invocation: { kind: 'async' } });
    const template = Template.fromStack(stack);
    const dlq = idOf(stack, fn.deadLetterQueue?.node.defaultChild);

    template.hasResourceProperties('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] } } });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  it('has no DLQ when invoked synchronously over HTTP', () => {
    const { stack, fn } = build();

    expect(fn.deadLetterQueue).toBeUndefined();
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { DeadLetterConfig: Match.absent() });
  });

  it.each(['http', 'async'] as const)('passes cdk-nag with %s invocation', (kind) => {
    const { app } = build({ invocation: { kind } });

    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
    expect(new ServerlessChecks().validateScope(app).violations).toEqual([]);
  });

  it('fails the synth, naming the entry and esbuild\'s error, when the entry does not bundle', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'cc-fn-'));
    try {
      const missing = join(outdir, 'no-such-handler.ts');

      expect(() => build({ entry: missing }, { bundle: true, outdir })).toThrow(/bundling .*no-such-handler\.ts failed \(exit 1\): .*Could not resolve/s);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('bundles the entry with esbuild as ESM with a linked source map', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'cc-fn-'));
    try {
      const { app } = build({}, { bundle: true, outdir });

      app.synth();

      const [asset] = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
      expect(asset).toBeDefined();
      const code = readFileSync(join(outdir, asset as string, 'index.mjs'), 'utf8');
      expect(code).toMatch(/export\s*\{[^}]*handler/);
      expect(code).toContain('sourceMappingURL=index.mjs.map');
      expect(existsSync(join(outdir, asset as string, 'index.mjs.map'))).toBe(true);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

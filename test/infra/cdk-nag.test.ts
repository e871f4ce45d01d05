// cdk-nag runs at every `cdk synth` (bin/app.ts). These tests hold the stack to zero findings,
// prove the packs do report a broken rule, and keep every acknowledgement earning its place.

import { type App, type CfnResource, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, NagPack, NIST80053R5Checks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { testApp } from './fixtures/test-app.js';

/** The packs bin/app.ts registers. */
const packs = () => [new AwsSolutionsChecks(), new ServerlessChecks(), new NIST80053R5Checks()];

function violations(app: App) {
  return packs().flatMap((pack) =>
    pack.validateScope(app).violations.map((v) => ({
      rule: v.ruleName,
      severity: v.severity,
      paths: v.violatingResources.map((r) => r.constructPath),
    })),
  );
}

/** Every optional construct on (boundary, alarm email), so every acknowledgement has its resource. */
const EVERYTHING_ON = { permissionsBoundary: true, alarmEmail: 'platform-oncall@example.com' };

function buildApp(context: Record<string, unknown> = {}): { app: App; stack: ConsentCaptureStack } {
  const app = testApp(context);
  return { app, stack: new ConsentCaptureStack(app, 'ConsentCapture') };
}

describe('cdk-nag', () => {
  it('finds nothing in the stack with the AWS Solutions pack', () => {
    const { app } = buildApp();

    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });

  it('finds nothing in the stack with the Serverless pack', () => {
    const { app } = buildApp();

    expect(new ServerlessChecks().validateScope(app).violations).toEqual([]);
  });

  it('finds nothing in the stack with the NIST 800-53 R5 pack', () => {
    const { app } = buildApp();

    expect(new NIST80053R5Checks().validateScope(app).violations).toEqual([]);
  });

  it('finds nothing with the permissions boundary and an alarm email, in any pack', () => {
    const { app } = buildApp(EVERYTHING_ON);

    expect(violations(app)).toEqual([]);
  });

  it('reports a function without reserved concurrency under NIST 800-53 R5', () => {
    const { app, stack } = buildApp();
    (stack.purgeFunction.fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = undefined;

    expect(violations(app)).toEqual([
      { rule: 'NIST.800.53.R5-LambdaConcurrency', severity: 'error', paths: ['ConsentCapture/PurgeFunction/Function/Resource'] },
    ]);
  });

  it('reports a bucket added without SSL enforcement or access logs', () => {
    const { app, stack } = buildApp();
    new s3.Bucket(stack, 'Careless', { blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL });

    const found = violations(app);

    expect(found).toEqual(
      expect.arrayContaining([
        { rule: 'AwsSolutions-S10', severity: 'error', paths: ['ConsentCapture/Careless/Resource'] },
        { rule: 'AwsSolutions-S1', severity: 'error', paths: ['ConsentCapture/Careless/Resource'] },
      ]),
    );
  });

  it('reports a queue added without a DLQ or TLS enforcement', () => {
    const { app, stack } = buildApp();
    new sqs.Queue(stack, 'Careless', { enforceSSL: false });

    const rules = violations(app).map((v) => v.rule);

    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4', 'Serverless-SQSRedrivePolicy']));
  });

  it('still reports a new wildcard on a role whose other wildcards are acknowledged', () => {
    const { app, stack } = buildApp();
    stack.roles.purge.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:Get*'], resources: [stack.buckets.captures.arnForObjects('captures/*')] }),
    );

    expect(violations(app)).toEqual([
      { rule: 'AwsSolutions-IAM5[Action::s3:Get*]', severity: 'error', paths: ['ConsentCapture/Roles/Purge/DefaultPolicy/Resource'] },
    ]);
  });

  it('still reports a KMS wildcard added to the export role, whose S3 prefix wildcards are acknowledged', () => {
    const { app, stack } = buildApp();
    stack.roles.export.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt*'], resources: ['arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000'] }));

    expect(violations(app)).toEqual([
      { rule: 'AwsSolutions-IAM5[Action::kms:Decrypt*]', severity: 'error', paths: ['ConsentCapture/Roles/Export/DefaultPolicy/Resource'] },
    ]);
  });

  it('has no acknowledgement that suppresses nothing', () => {
    const { app } = buildApp(EVERYTHING_ON);
    const acknowledged = acknowledgements(app);
    const used = acknowledgementsUsed(app);

    expect(acknowledged.length).toBeGreaterThan(0);
    const unused = acknowledged.filter(
      (ack) => !used.some((u) => u.rule === ack.rule && (u.resourcePath === ack.path || u.resourcePath.startsWith(`${ack.path}/`))),
    );
    expect(unused).toEqual([]);
  });

  it('gives every acknowledgement a reason of at least one sentence', () => {
    const { app } = buildApp(EVERYTHING_ON);

    for (const ack of acknowledgements(app)) expect(ack.reason.length, `${ack.path} ${ack.rule}`).toBeGreaterThan(40);
  });

  it('passes CDK\'s built-in CloudFormation validation, as cdk synth runs it', () => {
    const app = testApp({}, { cloudFormationValidation: true });
    new ConsentCaptureStack(app, 'ConsentCapture');

    expect(() => app.synth()).not.toThrow();
  });
});

interface Acknowledgement {
  readonly path: string;
  readonly rule: string;
  readonly reason: string;
}

/** Every `Validations.of(x).acknowledge()` in the tree, by construct path and rule id. */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          rule: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

/**
 * Which acknowledgements actually suppressed a finding. cdk-nag 3.0.2 consults the private
 * `isAcknowledged(resource, ruleId)` once per finding; a spy on it records the hits.
 */
function acknowledgementsUsed(app: App): Array<{ resourcePath: string; rule: string }> {
  const proto = NagPack.prototype as unknown as { isAcknowledged: (resource: CfnResource, ruleId: string) => boolean };
  const original = proto.isAcknowledged;
  expect(typeof original).toBe('function');
  const used: Array<{ resourcePath: string; rule: string }> = [];
  proto.isAcknowledged = function spy(this: NagPack, resource: CfnResource, ruleId: string): boolean {
    const hit = original.call(this, resource, ruleId);
    if (hit) used.push({ resourcePath: resource.node.path, rule: ruleId });
    return hit;
  };
  try {
    for (const pack of packs()) pack.validateScope(app);
  } finally {
    proto.isAcknowledged = original;
  }
  return used;
}

// The local principals' identity policies are the synthesized template's: a statement removed from
// the CDK code is a local call that fails with AccessDenied. Also: intrinsics resolve to the local
// resources' ARNs, an unresolvable one fails loudly, and the cache follows the sources.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSServiceException, type KMSClient } from '@aws-sdk/client-kms';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_TAG } from '../../contract/app.js';
import type { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import {
  extractTemplatePolicies,
  loadTemplatePolicies,
  policySourcesHash,
  resolveBucketPolicies,
  resolveRolePolicies,
  TemplatePolicyError,
  type TemplatePolicies,
} from '../../local/template-policies.js';
import { synthesizeTemplatePolicies } from '../../local/template-synth.js';
import { startTestKms, type TestKms } from '../support/local-kms.js';

const TARGET = { account: '123456789012', region: 'eu-west-1' };

/** Removes, from every IAM policy of the stack, the statement with this Sid: a grant the CDK code no longer makes. */
function withoutStatement(sid: string): (stack: ConsentCaptureStack) => void {
  return (stack) => {
    for (const construct of stack.node.findAll()) {
      if (!(construct instanceof iam.CfnPolicy)) continue;
      const document = Stack.of(construct).resolve(construct.policyDocument) as { Statement: { Sid?: string }[] };
      const kept = document.Statement.filter((statement) => statement.Sid !== sid);
      if (kept.length !== document.Statement.length) construct.addPropertyOverride('PolicyDocument.Statement', kept);
    }
  };
}

async function createEmployeeKey(client: KMSClient): Promise<string> {
  try {
    await client.send(
      new CreateKeyCommand({
        Description: 'consent-capture key for e-1',
        Tags: [
          { TagKey: APP_TAG.key, TagValue: APP_TAG.value },
          { TagKey: 'employeeId', TagValue: 'e-1' },
        ],
      }),
    );
    return 'created';
  } catch (error) {
    if (error instanceof KMSServiceException) return error.name;
    throw error;
  }
}

describe('local identity policies from the synthesized template', () => {
  let policies: TemplatePolicies;
  beforeAll(async () => {
    policies = await loadTemplatePolicies();
  });

  it('give the steward role the template\'s KMS statements, resolved to the local account and region, and the consent role none', () => {
    const resolved = resolveRolePolicies(policies, TARGET);
    const steward = resolved.steward.flatMap((doc) => doc.Statement);
    expect(steward).toContainEqual(
      expect.objectContaining({ Sid: 'NameEmployeeKeys', Effect: 'Allow', Action: 'kms:CreateAlias', Resource: 'arn:aws:kms:eu-west-1:123456789012:alias/consent-capture/*' }),
    );
    expect(steward).toContainEqual(expect.objectContaining({ Sid: 'CreateEmployeeKeys', Action: 'kms:CreateKey' }));
    expect(steward).toContainEqual(expect.objectContaining({ Sid: 'TagNewEmployeeKeys', Action: 'kms:TagResource' }));
    const consentActions = resolved.consent.flatMap((doc) => doc.Statement).flatMap((st) => [st.Action ?? []].flat());
    expect(consentActions.filter((action) => action.startsWith('kms:'))).toEqual([]);
    // What the consent role may do to the steward: invoke it, and nothing more.
    expect(resolved.consent.flatMap((doc) => doc.Statement)).toContainEqual(
      expect.objectContaining({ Action: 'lambda:InvokeFunction', Resource: ['arn:aws:lambda:eu-west-1:123456789012:function:consent-capture-key-steward', 'arn:aws:lambda:eu-west-1:123456789012:function:consent-capture-key-steward:*'] }),
    );
  });

  it('resolve grants on tables, buckets and queues to the local resources\' ARNs', () => {
    const statements = resolveRolePolicies(policies, TARGET);
    const ingest = statements.ingest.flatMap((doc) => doc.Statement);
    expect(ingest).toContainEqual(
      expect.objectContaining({ Action: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query'], Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/consent-capture-ledger' }),
    );
    expect(ingest).toContainEqual(expect.objectContaining({ Resource: 'arn:aws:s3:::consent-capture-captures/captures/*' }));
    const purge = statements.purge.flatMap((doc) => doc.Statement);
    expect(purge).toContainEqual(
      expect.objectContaining({ Action: 's3:ListBucket', Resource: 'arn:aws:s3:::consent-capture-exports', Condition: { StringLike: { 's3:prefix': ['exports/*'] } } }),
    );
    expect(purge).toContainEqual(expect.objectContaining({ Resource: 'arn:aws:sqs:eu-west-1:123456789012:consent-capture-purge' }));
    const exporter = statements.export.flatMap((doc) => doc.Statement);
    expect(exporter).toContainEqual(
      expect.objectContaining({ Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/consent-capture-export-jobs' }),
    );
    expect(exporter).toContainEqual(expect.objectContaining({ Action: 's3:GetObject', Resource: 'arn:aws:s3:::consent-capture-captures/captures/*' }));
    // Nothing unresolved is left: no Ref, no Fn::, no `${Token[...]}`.
    expect(JSON.stringify(statements)).not.toMatch(/"Ref"|Fn::|\$\{Token/);
  });

  it('extract the buckets\' policies by local bucket name', () => {
    const buckets = resolveBucketPolicies(policies, TARGET);
    expect(Object.keys(buckets).sort()).toEqual(['consent-capture-captures', 'consent-capture-exports']);
    expect(buckets['consent-capture-captures']?.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Resource: ['arn:aws:s3:::consent-capture-captures', 'arn:aws:s3:::consent-capture-captures/*'] }),
    );
  });

  it('fail loudly on an intrinsic they cannot resolve', () => {
    const broken = extractTemplatePolicies(
      {
        Resources: {
          RoleX: { Type: 'AWS::IAM::Role', Properties: {} },
          PolicyX: {
            Type: 'AWS::IAM::Policy',
            Properties: { Roles: [{ Ref: 'RoleX' }], PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: { 'Fn::GetAtt': ['Elsewhere', 'Arn'] } }] } },
          },
        },
      },
      { RoleX: { kind: 'role', name: 'ingest' } },
    );
    expect(() => resolveRolePolicies(broken, TARGET)).toThrow(TemplatePolicyError);
    expect(() => resolveRolePolicies(broken, TARGET)).toThrow(/Fn::GetAtt.*Elsewhere.*not in the application contract/);
  });

  it('refuse a managed policy whose content the local stack does not know', () => {
    expect(() =>
      extractTemplatePolicies(
        { Resources: { RoleX: { Type: 'AWS::IAM::Role', Properties: { ManagedPolicyArns: ['arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'] } } } },
        { RoleX: { kind: 'role', name: 'ingest' } },
      ),
    ).toThrow(/AWSLambdaBasicExecutionRole.*does not know/);
  });
});

describe('a statement removed from the CDK code', () => {
  let full: TestKms;
  let withoutCreateKey: TestKms;
  beforeAll(async () => {
    const variant = synthesizeTemplatePolicies({ adjust: withoutStatement('CreateEmployeeKeys') });
    [full, withoutCreateKey] = await Promise.all([startTestKms(), startTestKms({ templatePolicies: variant })]);
  });
  afterAll(async () => {
    await Promise.all([full.close(), withoutCreateKey.close()]);
  });

  it('is a local CreateKey that fails with AccessDenied, where the deployed statement allows it', async () => {
    expect(await createEmployeeKey(full.client('steward'))).toBe('created');
    expect(await createEmployeeKey(withoutCreateKey.client('steward'))).toBe('AccessDeniedException');
  });
});

describe('the policy cache key', () => {
  const root = mkdtempSync(join(tmpdir(), 'cc-policy-hash-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('changes when a source under contract/, lib/ or the lock file changes', () => {
    mkdirSync(join(root, 'contract'));
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'contract', 'functions.ts'), 'timeoutSeconds: 29');
    writeFileSync(join(root, 'lib', 'stack.ts'), 'grantRead');
    writeFileSync(join(root, 'package-lock.json'), '{}');
    const before = policySourcesHash(root);
    expect(policySourcesHash(root)).toBe(before);
    writeFileSync(join(root, 'lib', 'stack.ts'), 'grantReadWrite');
    const afterLib = policySourcesHash(root);
    expect(afterLib).not.toBe(before);
    writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3}');
    expect(policySourcesHash(root)).not.toBe(afterLib);
  });
});

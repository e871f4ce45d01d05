// The promise that IAM alone can never use an employee key: no identity policy in the stack may
// allow a cryptographic KMS action on a resource that could be an employee key.

import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { kmsIdentityStatements } from '../../lib/role-policies.js';
import { synthStack, testApp } from './fixtures/test-app.js';

/** The actions that use or hand out an employee key's cryptography. */
const CRYPTO_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GenerateDataKeyPair',
  'kms:GenerateDataKeyPairWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:CreateGrant',
];
/** What an employee key's ARN looks like once pseudo parameters are filled in. */
const EMPLOYEE_KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/0b7e6e56-6a4e-4f0e-9d55-3f1d7f3c9a10';
const PSEUDO = { 'AWS::Partition': 'aws', 'AWS::Region': 'us-east-1', 'AWS::AccountId': '123456789012', 'AWS::URLSuffix': 'amazonaws.com' };

interface Statement {
  Effect: string;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Sid?: string;
}

interface Finding {
  readonly resource: string;
  readonly statement: Statement;
}

/** IAM's wildcard match: `*` any run of characters, `?` one; actions are case-insensitive. */
function globMatches(pattern: string, value: string, ignoreCase: boolean): boolean {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, ignoreCase ? 'i' : '').test(value);
}

/** Renders a CloudFormation value as the string IAM would see: pseudo parameters filled, other references opaque. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if ('Ref' in object) {
      const ref = String(object['Ref']);
      return PSEUDO[ref as keyof typeof PSEUDO] ?? `resource-${ref}`;
    }
    if ('Fn::GetAtt' in object) return `resource-${JSON.stringify(object['Fn::GetAtt'])}`;
    if ('Fn::Join' in object) {
      const [delimiter, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(delimiter);
    }
  }
  return JSON.stringify(value);
}

const asArray = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Every identity-policy statement in a template: policies, managed policies and inline role/user/group policies. */
function identityStatements(template: Template): Array<{ resource: string; statement: Statement }> {
  const resources = template.toJSON()['Resources'] as Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  const out: Array<{ resource: string; statement: Statement }> = [];
  for (const [id, resource] of Object.entries(resources)) {
    const documents: unknown[] = [];
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      documents.push(resource.Properties?.['PolicyDocument']);
    }
    if (['AWS::IAM::Role', 'AWS::IAM::User', 'AWS::IAM::Group'].includes(resource.Type)) {
      for (const policy of asArray(resource.Properties?.['Policies'])) documents.push((policy as { PolicyDocument: unknown }).PolicyDocument);
    }
    for (const document of documents) {
      for (const statement of asArray((document as { Statement?: unknown }).Statement)) out.push({ resource: id, statement: statement as Statement });
    }
  }
  return out;
}

/** Allow statements that could let their principal use an employee key's cryptography. */
function cryptoOnWildcardFindings(template: Template): Finding[] {
  return identityStatements(template)
    .filter(({ statement }) => statement.Effect === 'Allow')
    .filter(({ statement }) => {
      // NotAction / NotResource allow everything they do not name: treat them as wide open.
      if (statement.NotAction !== undefined || statement.NotResource !== undefined) return true;
      const actions = asArray(statement.Action).map(render);
      const resources = asArray(statement.Resource).map(render);
      const crypto = actions.some((pattern) => CRYPTO_ACTIONS.some((action) => globMatches(pattern, action, true)));
      const onEmployeeKeys = resources.some((pattern) => pattern.includes('*') && globMatches(pattern, EMPLOYEE_KEY_ARN, false));
      return crypto && onEmployeeKeys;
    });
}

describe('identity policies and employee keys', () => {
  it('no identity policy in the stack allows a cryptographic KMS action on a wildcard resource', () => {
    const { template } = synthStack({ auditorRoleArn: 'arn:aws:iam::123456789012:role/auditor' });

    expect(identityStatements(template).length).toBeGreaterThan(0);
    expect(cryptoOnWildcardFindings(template)).toEqual([]);
  });

  it.each([
    ['kms:Decrypt on *', ['kms:Decrypt'], ['*']],
    ['kms:GenerateDataKey* on *', ['kms:GenerateDataKey*'], ['*']],
    ['kms:Encrypt on every key ARN', ['kms:Encrypt'], ['arn:aws:kms:*:*:key/*']],
    ['kms:ReEncrypt* on *', ['kms:ReEncrypt*'], ['*']],
    ['kms:CreateGrant on *', ['kms:CreateGrant'], ['*']],
    ['kms:* on *', ['kms:*'], ['*']],
    ['* on *', ['*'], ['*']],
    ['a lowercase kms:decrypt on *', ['kms:decrypt'], ['*']],
  ])('the check catches %s added to a role', (_name, actions, resources) => {
    const app = testApp();
    const stack = new ConsentCaptureStack(app, 'ConsentCapture');
    stack.roles.export.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources }));

    const findings = cryptoOnWildcardFindings(Template.fromStack(stack));

    expect(findings).toHaveLength(1);
    // CDK merges it into the role's statement on `*` (the function's X-Ray actions), so look inside.
    expect([findings[0]?.statement.Action].flat()).toEqual(expect.arrayContaining(actions));
  });

  it('the check catches a crypto statement in an inline role policy', () => {
    const app = testApp();
    const stack = new ConsentCaptureStack(app, 'ConsentCapture');
    new iam.Role(stack, 'Rogue', {
      assumedBy: new iam.AccountRootPrincipal(),
      inlinePolicies: {
        keys: new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: ['*'] })] }),
      },
    });

    expect(cryptoOnWildcardFindings(Template.fromStack(stack))).toHaveLength(1);
  });

  it('the check leaves a crypto action on one named key alone', () => {
    const app = testApp();
    const stack = new ConsentCaptureStack(app, 'ConsentCapture');
    stack.roles.export.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: ['arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555'] }),
    );

    expect(cryptoOnWildcardFindings(Template.fromStack(stack))).toEqual([]);
  });

  it('the steward role carries exactly the KMS statements of lib/role-policies.ts', () => {
    const { stack, template } = synthStack();
    const expected = stack.resolve(
      kmsIdentityStatements('steward', { partition: stack.partition, region: stack.region, account: stack.account }),
    ) as unknown[];

    const stewardRole = stack.getLogicalId(stack.roles.steward.node.defaultChild as CfnElement);
    const kmsStatements = identityStatements(template)
      .filter(({ resource }) => {
        const policy = (template.toJSON()['Resources'] as Record<string, { Properties?: { Roles?: unknown } }>)[resource];
        return JSON.stringify(policy?.Properties?.Roles).includes(`"${stewardRole}"`);
      })
      .map(({ statement }) => statement)
      .filter((statement) => asArray(statement.Action).some((action) => render(action).startsWith('kms:')));

    expect(kmsStatements).toEqual(expected);
  });

  it('lets the steward role create only single-Region symmetric AWS_KMS keys, with the request tag app=consent-capture', () => {
    const { template } = synthStack();

    const createKey = identityStatements(template)
      .map(({ statement }) => statement as Statement & { Condition?: Record<string, Record<string, unknown>> })
      .filter((statement) => asArray(statement.Action).includes('kms:CreateKey'));

    expect(createKey).toHaveLength(1);
    expect(asArray(createKey[0]?.Action)).toEqual(['kms:CreateKey']);
    expect(createKey[0]?.Condition).toEqual({
      StringEquals: { 'aws:RequestTag/app': 'consent-capture', 'kms:KeySpec': 'SYMMETRIC_DEFAULT', 'kms:KeyOrigin': 'AWS_KMS' },
      Bool: { 'kms:MultiRegion': 'false' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['app', 'employeeId'] },
    });
  });

  it('lets the steward role tag only with the request tag app=consent-capture, and list no aliases', () => {
    const { stack, template } = synthStack();
    const statements = identityStatements(template).map(({ statement }) => statement as Statement & { Condition?: Record<string, Record<string, unknown>> });

    const tagging = statements.filter((statement) => asArray(statement.Action).includes('kms:TagResource'));
    expect(tagging).toHaveLength(1);
    expect(tagging[0]?.Condition?.['StringEquals']).toEqual({ 'aws:RequestTag/app': 'consent-capture' });
    // Only policy-watch (which employee's key did a PutKeyPolicy change?) and the auditor list aliases.
    const idOf = (construct: { node: { defaultChild?: unknown } }): string => stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const listers = identityStatements(template).filter(({ statement }) => asArray(statement.Action).includes('kms:ListAliases')).map(({ resource }) => resource);
    expect(listers.sort()).toEqual([idOf(stack.roles.node.findChild('PolicyWatchKmsIdentity')), idOf(stack.audit.node.findChild('AuditorReads'))].sort());
  });

  it('gives the consent, ingest, export and purge roles no KMS permission in IAM: key policies alone do', () => {
    const { stack, template } = synthStack();
    const resources = template.toJSON()['Resources'] as Record<string, { Properties?: { Roles?: unknown } }>;

    for (const role of [stack.roles.consent, stack.roles.ingest, stack.roles.export, stack.roles.purge]) {
      const id = Stack.of(role).getLogicalId(role.node.defaultChild as CfnElement);
      const actions = identityStatements(template)
        .filter(({ resource }) => JSON.stringify(resources[resource]?.Properties?.Roles).includes(`"${id}"`))
        .flatMap(({ statement }) => asArray(statement.Action).map(render));

      expect(actions.filter((action) => action.toLowerCase().startsWith('kms:'))).toEqual([]);
    }
  });

  it('lets only the consent and datasets roles invoke the key steward, and them invoke nothing else', () => {
    const { stack, template } = synthStack();
    const resources = template.toJSON()['Resources'] as Record<string, { Properties?: { Roles?: unknown } }>;
    const steward = stack.getLogicalId(stack.keyStewardFunction.fn.node.defaultChild as CfnElement);
    const invokers = identityStatements(template)
      .filter(({ statement }) => statement.Effect === 'Allow' && asArray(statement.Action).some((action) => globMatches(render(action), 'lambda:InvokeFunction', true)))
      .map(({ resource, statement }) => ({ roles: JSON.stringify(resources[resource]?.Properties?.Roles), targets: asArray(statement.Resource).map(render) }));
    const consentRole = stack.getLogicalId(stack.roles.consent.node.defaultChild as CfnElement);
    const datasetsRole = stack.getLogicalId(stack.roles.datasets.node.defaultChild as CfnElement);

    expect(invokers).toHaveLength(2);
    expect(invokers.map((i) => i.roles).sort()).toEqual([JSON.stringify([{ Ref: consentRole }]), JSON.stringify([{ Ref: datasetsRole }])].sort());
    expect(invokers.every((i) => i.targets.every((target) => target.includes(steward)))).toBe(true);
  });
});

// The fences around the application, checked with the local policy evaluator:
// - deploy/scp.json, filled as the runbook says, denies an administrator the changes that would let
//   them act as the application (new code, a new role policy, invoking the consent function with a
//   forged event) and allows the deployment role;
// - the optional permissions boundary (-c permissionsBoundary=true) still allows every action each
//   role's identity policies and the employee key policies give it, and denies IAM, function
//   changes, undoing an erasure, and shredding to every role but purge.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FUNCTION_NAMES } from '../../contract/functions.js';
import { ROLE_NAMES, type RoleName } from '../../contract/roles.js';
import { buildKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { evaluateIdentityPolicies, type Decision, type PolicyDocument } from '../../local/kms/policy-evaluator.js';
import { synthStack } from './fixtures/test-app.js';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const PREFIX = 'consent-capture-prod';
const DEPLOYMENT_ROLE = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-${REGION}`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef`;
const roleArn = (role: string, prefix = PREFIX) => `arn:aws:iam::${ACCOUNT}:role/${prefix}-${role}`;
const functionArn = (fn: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${PREFIX}-${fn}`;

/** deploy/scp.json with its placeholders filled, as the runbook's sed command does. */
function filledScp(): PolicyDocument {
  const text = readFileSync(new URL('../../deploy/scp.json', import.meta.url), 'utf8');
  const filled = text.replaceAll('{{ROLE_PREFIX}}', PREFIX).replaceAll('{{DEPLOYMENT_ROLE_ARN}}', DEPLOYMENT_ROLE);
  expect(filled).not.toMatch(/\{\{/);
  return JSON.parse(filled) as PolicyDocument;
}

/** An SCP filters: with FullAWSAccess attached (the default), the SCP's Denies decide. */
const FULL_AWS_ACCESS: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

function underScp(principal: string, action: string, resource: string, context: Record<string, string> = {}): Decision {
  return evaluateIdentityPolicies([FULL_AWS_ACCESS, filledScp()], {
    principal: { arn: principal, accountId: ACCOUNT },
    action,
    resource,
    context: { 'aws:PrincipalArn': principal, 'aws:PrincipalAccount': ACCOUNT, ...context },
  });
}

describe('deploy/scp.json', () => {
  it.each(['UpdateFunctionCode', 'UpdateFunctionConfiguration', 'InvokeFunction', 'DeleteFunction', 'AddPermission', 'PublishVersion'])(
    'denies an administrator lambda:%s on every application function, and allows the deployment role',
    (action) => {
      for (const fn of FUNCTION_NAMES) {
        expect(underScp(ADMIN, `lambda:${action}`, functionArn(fn))).toBe('explicit-deny');
        expect(underScp(DEPLOYMENT_ROLE, `lambda:${action}`, functionArn(fn))).toBe('allow');
      }
    },
  );

  it('lets the application\'s own roles invoke its functions (the consent function invokes the key steward), and nobody else', () => {
    expect(underScp(roleArn('consent'), 'lambda:InvokeFunction', functionArn('key-steward'))).toBe('allow');
    expect(underScp(ADMIN, 'lambda:InvokeFunction', functionArn('key-steward'))).toBe('explicit-deny');
    expect(underScp(`arn:aws:iam::${ACCOUNT}:role/consent-capture-staging-consent`, 'lambda:InvokeFunction', functionArn('key-steward'))).toBe('explicit-deny');
  });

  it('denies an administrator a new role under the prefix, which would pass for an application role', () => {
    expect(underScp(ADMIN, 'iam:CreateRole', roleArn('impostor'))).toBe('explicit-deny');
    expect(underScp(DEPLOYMENT_ROLE, 'iam:CreateRole', roleArn('impostor'))).toBe('allow');
  });

  it('leaves other applications\' functions alone', () => {
    expect(underScp(ADMIN, 'lambda:UpdateFunctionCode', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:payroll-api`)).toBe('allow');
  });

  it.each(['PutRolePolicy', 'AttachRolePolicy', 'UpdateAssumeRolePolicy', 'PassRole', 'DeleteRolePermissionsBoundary'])(
    'denies an administrator iam:%s on every application role, and allows the deployment role',
    (action) => {
      for (const role of ROLE_NAMES) {
        expect(underScp(ADMIN, `iam:${action}`, roleArn(role))).toBe('explicit-deny');
        expect(underScp(DEPLOYMENT_ROLE, `iam:${action}`, roleArn(role))).toBe('allow');
      }
    },
  );

  it('denies an administrator a new version of the boundary policy', () => {
    expect(underScp(ADMIN, 'iam:CreatePolicyVersion', `arn:aws:iam::${ACCOUNT}:policy/${PREFIX}-boundary`)).toBe('explicit-deny');
  });

  it('denies an administrator wiring a queue of their own to the purge function', () => {
    const context = { 'lambda:FunctionArn': functionArn('purge') };

    expect(underScp(ADMIN, 'lambda:CreateEventSourceMapping', '*', context)).toBe('explicit-deny');
    expect(underScp(DEPLOYMENT_ROLE, 'lambda:CreateEventSourceMapping', '*', context)).toBe('allow');
  });

  it('lets only the role that writes key policies bypass the lockout safety check', () => {
    // The role whose stewardship statement allows PutKeyPolicy is the one the SCP must exempt.
    const roles = Object.fromEntries(ROLE_NAMES.map((role) => [role, roleArn(role)])) as KeyPolicyRoles;
    const policy = buildKeyPolicy({ employeeId: 'e-1', status: 'active', scopes: ['clicks'] }, roles);
    const writers = policy.Statement.filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes('kms:PutKeyPolicy')).flatMap((s) => [s.Principal.AWS].flat());
    expect(writers).toHaveLength(1);
    const bypass = { 'kms:BypassPolicyLockoutSafetyCheck': 'true' };
    const key = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b7e6e56-6a4e-4f0e-9d55-3f1d7f3c9a10`;

    expect(underScp(writers[0] ?? '', 'kms:PutKeyPolicy', key, bypass)).toBe('allow');
    expect(underScp(ADMIN, 'kms:PutKeyPolicy', key, bypass)).toBe('explicit-deny');
    expect(underScp(roleArn('purge'), 'kms:PutKeyPolicy', key, bypass)).toBe('explicit-deny');
    // Without the bypass the SCP says nothing: the key policy decides.
    expect(underScp(ADMIN, 'kms:PutKeyPolicy', key, { 'kms:BypassPolicyLockoutSafetyCheck': 'false' })).toBe('allow');
  });
});

/** The boundary test's template resources, for render to read function names from. */
let templateResources: Record<string, { Type: string; Properties: Record<string, unknown> }> = {};

/** Renders the template's intrinsics with a concrete account and Region (the boundary holds a Fn::Join). */
function render(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(render);
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' }[String(object['Ref'])] ?? `ref-${String(object['Ref'])}`;
    if ('Fn::GetAtt' in object) {
      // A function's ARN from its fixed name, as AWS will have it; anything else an opaque ARN.
      const [id] = object['Fn::GetAtt'] as [string, string];
      const fn = templateResources[id];
      if (fn?.Type === 'AWS::Lambda::Function') return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${String(fn.Properties['FunctionName'])}`;
      return `arn:aws:unknown:${REGION}:${ACCOUNT}:${JSON.stringify(object['Fn::GetAtt'])}`;
    }
    if ('Fn::Join' in object) {
      const [delimiter, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => String(render(part))).join(delimiter);
    }
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, render(v)]));
  }
  return value;
}

describe('the permissions boundary', () => {
  const { stack, template } = synthStack({ permissionsBoundary: true, rolePrefix: PREFIX });
  const resources = template.toJSON()['Resources'] as Record<string, { Type: string; Properties: Record<string, unknown> }>;
  templateResources = resources;
  const boundaryId = stack.getLogicalId(stack.permissionsBoundary?.policy.node.defaultChild as never);
  const boundary = render(resources[boundaryId]?.Properties['PolicyDocument']) as PolicyDocument;
  const roleIds = Object.fromEntries(ROLE_NAMES.map((role) => [stack.getLogicalId(stack.roles.role(role).node.defaultChild as never), role])) as Record<string, RoleName>;

  const underBoundary = (role: string, action: string, resource = '*'): Decision =>
    evaluateIdentityPolicies([boundary], {
      principal: { arn: roleArn(role), accountId: ACCOUNT },
      action,
      resource,
      context: { 'aws:PrincipalArn': roleArn(role), 'aws:PrincipalAccount': ACCOUNT },
    });

  /** Every (action, resource) a role's identity policies in the template allow. */
  function identityActions(role: RoleName): Array<{ action: string; resource: string }> {
    const out: Array<{ action: string; resource: string }> = [];
    for (const resource of Object.values(resources)) {
      if (resource.Type !== 'AWS::IAM::Policy') continue;
      const attached = (resource.Properties['Roles'] as Array<{ Ref: string }>).map((r) => roleIds[r.Ref]);
      if (!attached.includes(role)) continue;
      const document = render(resource.Properties['PolicyDocument']) as { Statement: Array<{ Effect: string; Action: string | string[]; Resource: string | string[] }> };
      for (const statement of document.Statement) {
        if (statement.Effect !== 'Allow') continue;
        for (const action of [statement.Action].flat()) for (const res of [statement.Resource].flat()) out.push({ action, resource: res });
      }
    }
    return out;
  }

  /** Every KMS action an employee key policy gives the role, in any consent state. */
  function keyPolicyActions(role: RoleName): string[] {
    const roles = Object.fromEntries(ROLE_NAMES.map((r) => [r, roleArn(r)])) as KeyPolicyRoles;
    const states = [
      { employeeId: 'e-1', status: 'active', scopes: ['clicks'] },
      { employeeId: 'e-1', status: 'paused', scopes: ['clicks'], pausedUntil: '2030-01-01T00:00:00Z' },
      { employeeId: 'e-1', status: 'purging', scopes: [] },
    ] as const;
    return states.flatMap((state) =>
      buildKeyPolicy(state, roles)
        .Statement.filter((s) => s.Effect === 'Allow' && [s.Principal.AWS].flat().includes(roleArn(role)))
        .flatMap((s) => [s.Action].flat()),
    );
  }

  it('is attached to every role of the contract', () => {
    for (const role of ROLE_NAMES) {
      expect(resources[stack.getLogicalId(stack.roles.role(role).node.defaultChild as never)]?.Properties['PermissionsBoundary']).toEqual({ Ref: boundaryId });
    }
  });

  it.each(ROLE_NAMES)('still allows every action the %s role\'s identity policies and the key policies give it', (role) => {
    const actions = [...identityActions(role), ...keyPolicyActions(role).map((action) => ({ action, resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/k` }))];
    // The export role's reach is its grant; the training role's is two reads and its grants.
    const roleWithFunction = role !== 'export' && role !== 'training';

    if (roleWithFunction) expect(actions.length).toBeGreaterThan(2);
    expect(actions.filter(({ action, resource }) => underBoundary(role, action, resource) !== 'allow')).toEqual([]);
  });

  it.each(ROLE_NAMES)('denies the %s role iam:*, sts:AssumeRole and undoing an erasure', (role) => {
    for (const action of ['iam:CreateRole', 'iam:PassRole', 'iam:PutRolePolicy', 'sts:AssumeRole', 'kms:CancelKeyDeletion', 'kms:EnableKey', 'kms:UntagResource', 'kms:UpdateAlias']) {
      expect(underBoundary(role, action), action).toBe('explicit-deny');
    }
  });

  it.each(ROLE_NAMES)('lets the %s role invoke only the application\'s functions, and change none', (role) => {
    expect(underBoundary(role, 'lambda:InvokeFunction', functionArn('key-steward'))).toBe('allow');
    expect(underBoundary(role, 'lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:payroll-api`)).toBe('implicit-deny');
    for (const action of ['lambda:UpdateFunctionCode', 'lambda:CreateFunction', 'lambda:AddPermission']) expect(underBoundary(role, action, functionArn('consent')), action).not.toBe('allow');
  });

  it('lets only the purge role disable keys and schedule their deletion', () => {
    for (const role of ROLE_NAMES) {
      const expected = role === 'purge' ? 'allow' : 'explicit-deny';
      expect([underBoundary(role, 'kms:ScheduleKeyDeletion'), underBoundary(role, 'kms:DisableKey')], role).toEqual([expected, expected]);
    }
  });

  it('allows nothing outside the services the functions use', () => {
    expect(underBoundary('consent', 'ec2:RunInstances')).toBe('implicit-deny');
    expect(underBoundary('ingest', 'secretsmanager:GetSecretValue')).toBe('implicit-deny');
  });

  it('is imported, not created, when given as an ARN', () => {
    const imported = synthStack({ permissionsBoundary: `arn:aws:iam::${ACCOUNT}:policy/org-boundary` });

    imported.template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    imported.template.hasResourceProperties('AWS::IAM::Role', { PermissionsBoundary: `arn:aws:iam::${ACCOUNT}:policy/org-boundary` });
  });

  it('is absent by default', () => {
    const plain = synthStack();

    for (const role of Object.values(plain.template.findResources('AWS::IAM::Role'))) {
      expect((role as { Properties: Record<string, unknown> }).Properties['PermissionsBoundary']).toBeUndefined();
    }
  });
});

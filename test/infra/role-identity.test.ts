// Employee key policies name the function roles by ARN, and KMS pins each to the role's unique id:
// a role renamed, replaced or given a new logical id leaves every existing key naming a role that
// is gone. These tests hold the roles' names and logical ids still, and the prefix's rules.

import { describe, expect, it } from 'vitest';
import { AUDITOR_ROLE_NAME, FUNCTION_NAMES, ROLE_NAMES } from '../../contract/index.js';
import { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { synthStack, testApp } from './fixtures/test-app.js';

/**
 * The roles as deployed. Changing a row here replaces a role in every deployment: follow the
 * runbook (docs/runbook.md, "When a role must change") before you do.
 */
const DEPLOYED_ROLES = [
  { logicalId: 'RolesIngest81B24592', roleName: 'consent-capture-ingest' },
  { logicalId: 'RolesConsent69A52BA3', roleName: 'consent-capture-consent' },
  { logicalId: 'RolesExportA8015663', roleName: 'consent-capture-export' },
  { logicalId: 'RolesPurge8454B800', roleName: 'consent-capture-purge' },
  { logicalId: 'RolesKeyStewardFF8699F8', roleName: 'consent-capture-steward' },
  { logicalId: 'RolesDatasetsE9F73C7D', roleName: 'consent-capture-datasets' },
  { logicalId: 'RolesTrainingE751739D', roleName: 'consent-capture-training' },
  { logicalId: 'RolesPolicyWatchC02D91D5', roleName: 'consent-capture-policy-watch' },
  // The compliance auditor: the audit key's policy names it.
  { logicalId: 'AuditAuditor5031D3BC', roleName: 'consent-capture-auditor' },
];

/** Roles with a fixed name: those a key policy may name. Service roles nothing names (EventBridge's publisher) get CloudFormation's. */
function rolesOf(template: ReturnType<typeof synthStack>['template']) {
  // Service roles nothing names (the sweep schedule's, the CloudTrail rules' topic publisher) get
  // CloudFormation's names: no key policy names them.
  return Object.entries(template.findResources('AWS::IAM::Role'))
    .map(([logicalId, resource]) => ({
      logicalId,
      roleName: (resource as { Properties: { RoleName?: unknown } }).Properties.RoleName,
    }))
    .filter((role) => role.roleName !== undefined);
}

describe('role identities', () => {
  it('keep their logical ids and fixed names', () => {
    const { template } = synthStack();

    expect(rolesOf(template)).toEqual(DEPLOYED_ROLES);
  });

  it('name every role of the contract, and nothing else', () => {
    const { template } = synthStack();

    expect(rolesOf(template).map((r) => r.roleName)).toEqual([...ROLE_NAMES, AUDITOR_ROLE_NAME].map((name) => `consent-capture-${name}`));
  });

  it('take the prefix from -c rolePrefix, for a second deployment in the same account', () => {
    const { template } = synthStack({ rolePrefix: 'consent-capture-prod' });

    expect(rolesOf(template)).toEqual(DEPLOYED_ROLES.map((r) => ({ ...r, roleName: r.roleName.replace('consent-capture', 'consent-capture-prod') })));
  });

  it('derive the default prefix from the stack name', () => {
    const stack = new ConsentCaptureStack(testApp(), 'ConsentCaptureStaging');

    expect(stack.settings.rolePrefix).toBe('consent-capture-staging');
  });

  it('give every function the fixed name <prefix>-<function>, so an SCP can fence it', () => {
    const { template } = synthStack({ rolePrefix: 'cc-prod' });
    const names = Object.values(template.findResources('AWS::Lambda::Function')).map((r) => (r as { Properties: { FunctionName?: unknown } }).Properties.FunctionName);

    expect(names.sort()).toEqual(FUNCTION_NAMES.map((name) => `cc-prod-${name}`).sort());
  });

  it.each([
    ['a prefix with a character Lambda function names refuse', 'consent.capture'],
    ['a prefix with a space', 'consent capture'],
    ['a prefix that makes "<prefix>-policy-watch" longer than 64 characters', 'x'.repeat(52)],
  ])('refuse %s, naming the key and the limit', (_label, prefix) => {
    expect(() => synthStack({ rolePrefix: prefix })).toThrow(/context "rolePrefix" must be letters, digits and dashes, at most 51 characters/);
  });

  it('accept the longest prefix that fits', () => {
    const { template } = synthStack({ rolePrefix: 'x'.repeat(51) });

    expect(rolesOf(template).every((r) => typeof r.roleName === 'string' && r.roleName.length <= 64)).toBe(true);
  });
});

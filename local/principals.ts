// The local stack's IAM principals: one role per function plus `admin` and `auditor`, each with
// SigV4 credentials and the identity policies the CDK app gives that role in AWS, as read from its
// synthesized template (template-policies.ts).
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ADMINISTRATOR_ACCESS, PRINCIPAL_NAMES, type IdentityPolicy, type PrincipalName } from '../contract/roles.js';
import { localRoleName } from './resource-names.js';
import { resolveRolePolicies, type TemplatePolicies, type TemplateRoleName } from './template-policies.js';

export { PRINCIPAL_NAMES, type PrincipalName };

export interface PrincipalCredentials {
  readonly arn: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface LocalPrincipal extends PrincipalCredentials {
  readonly name: PrincipalName;
  readonly roleName: string;
  /** The STS session ARN that AWS would show for this role's Lambda. */
  readonly sessionArn: string;
  /** AROA… id, as in CloudTrail's principalId. */
  readonly roleId: string;
  readonly accountId: string;
  readonly identityPolicies: readonly IdentityPolicy[];
}

export interface LocalIdentity {
  readonly account: string;
  readonly region: string;
  readonly principals: Readonly<Record<PrincipalName, LocalPrincipal>>;
}

interface PersistedIdentity {
  readonly account: string;
  readonly region: string;
  readonly credentials: Record<PrincipalName, { accessKeyId: string; secretAccessKey: string; roleId: string }>;
}

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomId(prefix: string, length: number): string {
  let id = prefix;
  while (id.length < length) id += ALPHANUM[randomInt(ALPHANUM.length)];
  return id;
}

export const roleNameOf = localRoleName;

function identityPoliciesOf(name: PrincipalName, rolePolicies: Readonly<Record<TemplateRoleName, IdentityPolicy[]>>): IdentityPolicy[] {
  if (name === 'admin') return [ADMINISTRATOR_ACCESS];
  // The auditor's are the CDK app's auditor role's, as the function roles' are theirs.
  return rolePolicies[name];
}

function materialise(persisted: PersistedIdentity, policies: TemplatePolicies): LocalIdentity {
  const { account, region } = persisted;
  const rolePolicies = resolveRolePolicies(policies, { account, region });
  const entries = PRINCIPAL_NAMES.map((name): [PrincipalName, LocalPrincipal] => {
    const creds = persisted.credentials[name];
    const roleName = roleNameOf(name);
    return [
      name,
      {
        name,
        roleName,
        arn: `arn:aws:iam::${account}:role/${roleName}`,
        sessionArn: `arn:aws:sts::${account}:assumed-role/${roleName}/${roleName}-session`,
        roleId: creds.roleId,
        accountId: account,
        accessKeyId: creds.accessKeyId,
        secretAccessKey: creds.secretAccessKey,
        identityPolicies: identityPoliciesOf(name, rolePolicies),
      },
    ];
  });
  return { account, region, principals: Object.fromEntries(entries) as Record<PrincipalName, LocalPrincipal> };
}

function generate(region: string): PersistedIdentity {
  // A random account per local state, so nothing can depend on a hard-coded account id.
  const account = String(randomInt(100_000_000_000, 999_999_999_999));
  const credentials = Object.fromEntries(
    PRINCIPAL_NAMES.map((name) => [
      name,
      { accessKeyId: randomId('ASIA', 20), secretAccessKey: randomBytes(30).toString('base64'), roleId: randomId('AROA', 21) },
    ]),
  ) as PersistedIdentity['credentials'];
  return { account, region, credentials };
}

/**
 * Loads the principals kept at `file`, creating them (mode 0600) on first use. Their identity
 * policies are the template's (`loadTemplatePolicies()`), resolved to this identity's account.
 */
export function loadOrCreateIdentity(file: string, policies: TemplatePolicies, region = 'us-east-1'): LocalIdentity {
  if (existsSync(file)) {
    const persisted = JSON.parse(readFileSync(file, 'utf8')) as PersistedIdentity;
    // A principal added since this state was made (the key steward, say) gets credentials now;
    // the others keep theirs, so keys whose policies name them stay usable.
    const missing = PRINCIPAL_NAMES.filter((name) => persisted.credentials[name] === undefined);
    if (missing.length === 0) return materialise(persisted, policies);
    const fresh = generate(persisted.region).credentials;
    const completed: PersistedIdentity = { ...persisted, credentials: { ...persisted.credentials, ...Object.fromEntries(missing.map((name) => [name, fresh[name]])) } };
    writeFileSync(file, JSON.stringify(completed, null, 2), { mode: 0o600 });
    return materialise(completed, policies);
  }
  const persisted = generate(region);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(persisted, null, 2), { mode: 0o600 });
  return materialise(persisted, policies);
}

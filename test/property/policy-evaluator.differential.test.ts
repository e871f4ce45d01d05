// Differential test of our IAM policy evaluator against @cloud-copilot/iam-simulate on thousands of generated policies and requests.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { shortReport } from '../support/fast-check-report.js';
import { afterAll, describe, expect, it } from 'vitest';
import { CONSENT_STATUSES, SCOPES } from '../../lambdas/shared/consent-model.js';
import { buildKeyPolicy, type KeyPolicyRoles, type KeyPolicyState } from '../../lambdas/shared/key-policy.js';
import { ADMINISTRATOR_ACCESS } from '../../contract/roles.js';
import { kmsIdentityStatements } from '../../lib/role-policies.js';
import {
  evaluateIdentityPolicies,
  evaluateResourcePolicy,
  parsePolicyDocument,
  type Decision,
  type EvaluationRequest,
  type PolicyDocument,
  type PolicyStatement,
  type PolicyValue,
  type ResourcePolicyDecision,
} from '../../local/kms/policy-evaluator.js';
import { simulateIdentityPolicies, simulateResourcePolicy } from './iam-simulate-adapter.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

// ---------------------------------------------------------------------------------------------
// Fixed world

const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';
const REGION = 'us-east-1';
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0000abcd-12ab-34cd-56ef-1234567890ab`;
const roleArn = (name: string, account = ACCOUNT): string => `arn:aws:iam::${account}:role/${name}`;
const sessionArn = (name: string, account = ACCOUNT): string => `arn:aws:sts::${account}:assumed-role/${name}/${name}-session`;

const ROLES: KeyPolicyRoles = {
  ingest: roleArn('cc-ingest'),
  steward: roleArn('cc-steward'),
  export: roleArn('cc-export'),
  purge: roleArn('cc-purge'),
  auditor: roleArn('cc-auditor'),
  training: roleArn('cc-training'),
};
const FOREIGN_ROLE = roleArn('cc-ingest', OTHER_ACCOUNT);
/** The HTTP-facing consent role: no key policy names it and it has no KMS identity statement. */
const CONSENT_ROLE = roleArn('cc-consent');

interface Caller {
  readonly arn: string;
  readonly sessionArn: string | undefined;
  readonly accountId: string;
  readonly identityPolicies: readonly PolicyDocument[];
}

const stewardIdentity: PolicyDocument = {
  Version: '2012-10-17',
  Statement: kmsIdentityStatements('steward', { partition: 'aws', region: REGION, account: ACCOUNT }),
};
const CALLERS: Readonly<Record<string, Caller>> = {
  ingest: { arn: ROLES.ingest, sessionArn: sessionArn('cc-ingest'), accountId: ACCOUNT, identityPolicies: [] },
  'ingest-without-session': { arn: ROLES.ingest, sessionArn: undefined, accountId: ACCOUNT, identityPolicies: [] },
  steward: { arn: ROLES.steward, sessionArn: sessionArn('cc-steward'), accountId: ACCOUNT, identityPolicies: [stewardIdentity] },
  consent: { arn: CONSENT_ROLE, sessionArn: sessionArn('cc-consent'), accountId: ACCOUNT, identityPolicies: [] },
  export: { arn: ROLES.export, sessionArn: sessionArn('cc-export'), accountId: ACCOUNT, identityPolicies: [] },
  purge: { arn: ROLES.purge, sessionArn: sessionArn('cc-purge'), accountId: ACCOUNT, identityPolicies: [] },
  auditor: { arn: roleArn('cc-auditor'), sessionArn: sessionArn('cc-auditor'), accountId: ACCOUNT, identityPolicies: [] },
  training: { arn: roleArn('cc-training'), sessionArn: sessionArn('cc-training'), accountId: ACCOUNT, identityPolicies: [] },
  admin: { arn: roleArn('cc-admin'), sessionArn: sessionArn('cc-admin'), accountId: ACCOUNT, identityPolicies: [ADMINISTRATOR_ACCESS] },
  foreign: { arn: FOREIGN_ROLE, sessionArn: sessionArn('cc-ingest', OTHER_ACCOUNT), accountId: OTHER_ACCOUNT, identityPolicies: [] },
};
const CALLER_NAMES = Object.keys(CALLERS);

const KMS_ACTIONS = [
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:CreateGrant',
  'kms:PutKeyPolicy',
  'kms:GetKeyPolicy',
  'kms:DescribeKey',
  'kms:DisableKey',
  'kms:ScheduleKeyDeletion',
  'kms:ListGrants',
  'kms:RevokeGrant',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:CreateAlias',
  'kms:generatedatakey',
] as const;

/** One differential case: what both evaluators are given. */
interface Case {
  readonly resourcePolicy: PolicyDocument;
  readonly identityPolicies: readonly PolicyDocument[];
  readonly request: EvaluationRequest;
}

function requestOf(callerName: string, action: string, resource: string, context: Record<string, PolicyValue>): EvaluationRequest {
  const caller = CALLERS[callerName];
  if (caller === undefined) throw new Error(`no caller ${callerName}`);
  const principal = caller.sessionArn === undefined
    ? { arn: caller.arn, accountId: caller.accountId }
    : { arn: caller.arn, sessionArn: caller.sessionArn, accountId: caller.accountId };
  return { principal, action, resource, context };
}

// ---------------------------------------------------------------------------------------------
// Reading conditions back out of a case, for the known-difference filters.

interface ConditionUse {
  readonly version: string | undefined;
  readonly set: 'ForAllValues' | 'ForAnyValue' | undefined;
  readonly base: string;
  readonly ifExists: boolean;
  readonly key: string;
  readonly values: readonly string[];
}

const NEGATED_OPERATORS = new Set([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'NumericNotEquals',
  'DateNotEquals',
  'NotIpAddress',
  'ArnNotEquals',
  'ArnNotLike',
]);

const listOf = (value: PolicyValue): readonly string[] => (typeof value === 'string' ? [value] : value);

function statementsOf(doc: PolicyDocument): readonly PolicyStatement[] {
  const s = doc.Statement;
  return Array.isArray(s) ? (s as readonly PolicyStatement[]) : [s as PolicyStatement];
}

function* documentsOf(c: Case): Generator<PolicyDocument> {
  yield c.resourcePolicy;
  yield* c.identityPolicies;
}

function* conditionUses(c: Case): Generator<ConditionUse> {
  for (const doc of documentsOf(c)) {
    for (const st of statementsOf(doc)) {
      for (const [op, block] of Object.entries(st.Condition ?? {})) {
        const m = /^(?:(ForAllValues|ForAnyValue):)?(.+?)(IfExists)?$/.exec(op);
        if (!m?.[2]) continue;
        const set = m[1] === 'ForAllValues' || m[1] === 'ForAnyValue' ? m[1] : undefined;
        for (const [key, values] of Object.entries(block)) {
          yield { version: doc.Version, set, base: m[2], ifExists: m[3] !== undefined, key, values: listOf(values as PolicyValue) };
        }
      }
    }
  }
}

function contextValue(request: EvaluationRequest, key: string): PolicyValue | undefined {
  const lower = key.toLowerCase();
  for (const [name, value] of Object.entries(request.context)) if (name.toLowerCase() === lower) return value;
  return undefined;
}

// Deliberately simple, independent parsers: they say which vocabulary values are malformed.
const isNumber = (v: string): boolean => /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/.test(v);
const isEpoch = (v: string): boolean => /^-?\d+$/.test(v);
const isDate = (v: string): boolean =>
  isEpoch(v) || (/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/.test(v) && !Number.isNaN(Date.parse(v)));
const ipFamily = (v: string): number => isIP(v.split('/')[0] ?? '');
const isCidr = (v: string): boolean => {
  const [address = '', prefix] = v.split('/');
  const family = isIP(address);
  return family !== 0 && (prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)));
};
const isArn = (v: string): boolean => v.split(':').length >= 6;

function parsesFor(base: string, value: string): boolean {
  if (base.startsWith('Numeric')) return isNumber(value);
  if (base.startsWith('Date')) return isDate(value);
  if (base.endsWith('IpAddress')) return isCidr(value);
  if (base.startsWith('Arn')) return isArn(value);
  return true;
}

/** Whether any Principal/NotPrincipal entry names the caller's account, and whether one names the caller. */
function namedBy(entries: readonly string[], request: EvaluationRequest): { account: boolean; identity: boolean } {
  const p = request.principal;
  return {
    account: entries.some((e) => e === p.accountId || e === `arn:aws:iam::${p.accountId}:root`),
    identity: entries.some((e) => e === p.arn || e === p.sessionArn),
  };
}

/** Whether some `${...}` in `value` names a key the request cannot supply as one value (escapes and defaults resolve). */
function hasUnresolvedVariable(value: string, request: EvaluationRequest): boolean {
  for (const m of value.matchAll(/\$\{([^}]*)\}/g)) {
    const body = m[1] ?? '';
    if (body === '*' || body === '?' || body === '$') continue;
    const [name = '', fallback] = body.split(/\s*,\s*(?=')/);
    const v = contextValue(request, name.trim());
    if (typeof v === 'string') continue;
    if ((v === undefined || v.length === 0) && fallback !== undefined) continue;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Where iam-simulate departs from AWS's documented behaviour. Each entry names the cases it covers;
// only cases that disagree and fall in one of these classes are excluded; the counts are printed, and
// each entry's example proves the simulator still gets it wrong (drop the entry once it stops).

interface KnownDifference {
  readonly id: string;
  readonly reason: string;
  readonly applies: (c: Case) => boolean;
  /** A case the simulator gets wrong, and what AWS (and our evaluator) decides for the resource policy. */
  readonly example: { readonly case: Case; readonly expected: Decision };
}

const exampleCase = (statement: PolicyStatement, context: Record<string, PolicyValue>, version = '2012-10-17'): Case => ({
  resourcePolicy: { Version: version, Statement: [statement] },
  identityPolicies: [],
  request: requestOf('ingest', 'kms:Decrypt', KEY_ARN, context),
});
const allowIngest = (condition: PolicyStatement['Condition']): PolicyStatement => ({
  Effect: 'Allow',
  Principal: { AWS: ROLES.ingest },
  Action: 'kms:*',
  Resource: '*',
  ...(condition === undefined ? {} : { Condition: condition }),
});

const KNOWN_SIMULATOR_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: 'EMPTY_MULTIVALUED_KEY_IS_ABSENT',
    reason:
      'AWS treats a multivalued key with no values as a null data set: ForAllValues "returns true if ... the context key value ' +
      'resolves to a null data set", and Null with "false" is documented to reject "a context key with an empty value" ' +
      '(reference_policies_condition-single-vs-multi-valued-context-keys, reference_policies_condition_examples-multi-valued-context-keys). ' +
      'iam-simulate treats [] as present, so Null, IfExists and negated single-value operators on it disagree.',
    applies: (c) =>
      [...conditionUses(c)].some((u) => {
        const v = contextValue(c.request, u.key);
        if (v === undefined || typeof v === 'string' || v.length > 0) return false;
        return u.base === 'Null' || (u.set === undefined && (u.ifExists || NEGATED_OPERATORS.has(u.base))) || (u.set === 'ForAnyValue' && u.ifExists);
      }),
    example: { case: exampleCase(allowIngest({ Null: { 'aws:TagKeys': 'true' } }), { 'aws:TagKeys': [] }), expected: 'allow' },
  },
  {
    id: 'FOR_ANY_VALUE_IF_EXISTS_ON_MISSING_KEY',
    reason:
      'AWS: with ...IfExists, "if the key is not present, evaluate the condition element as true" (reference_policies_elements_condition_operators, ' +
      'IfExists). iam-simulate applies ForAnyValue\'s missing-key rule (false) first and ignores the IfExists suffix.',
    applies: (c) => [...conditionUses(c)].some((u) => u.set === 'ForAnyValue' && u.ifExists && contextValue(c.request, u.key) === undefined),
    example: { case: exampleCase(allowIngest({ 'ForAnyValue:StringEqualsIfExists': { 'aws:TagKeys': 'app' } }), {}), expected: 'allow' },
  },
  {
    id: 'UNPARSABLE_VALUE_UNDER_NEGATED_OPERATOR',
    reason:
      'A negated operator matches when the key matches none of the policy values (AWS: "Evaluation logic for negated matching condition ' +
      'operators", reference_policies_condition-logic-multiple-context-keys-or-values). A value that does not parse as a number, date, ' +
      'IP or ARN matches nothing, so it cannot make a NotX operator false; iam-simulate makes the whole negated operator false.',
    applies: (c) =>
      [...conditionUses(c)].some((u) => {
        if (!NEGATED_OPERATORS.has(u.base) || u.base.startsWith('String')) return false;
        const v = contextValue(c.request, u.key);
        if (v === undefined) return false;
        return u.values.some((x) => !parsesFor(u.base, x)) || listOf(v).some((x) => !parsesFor(u.base, x));
      }),
    example: { case: exampleCase(allowIngest({ NumericNotEquals: { 'aws:MultiFactorAuthAge': 'abc' } }), { 'aws:MultiFactorAuthAge': '300' }), expected: 'allow' },
  },
  {
    id: 'NOT_IP_ADDRESS_SINGLE_ADDRESS_OF_OTHER_FAMILY',
    reason:
      'NotIpAddress is true when the request address is outside every listed range (reference_policies_elements_condition_operators, ' +
      'IP address). An IPv6 address is not the single IPv4 address 10.1.2.3 (nor the reverse); iam-simulate says it "does not match" ' +
      'NotIpAddress because it only compares single addresses of the same family.',
    applies: (c) =>
      [...conditionUses(c)].some((u) => {
        const v = contextValue(c.request, u.key);
        if (u.base !== 'NotIpAddress' || v === undefined) return false;
        return u.values.some((x) => !x.includes('/') && ipFamily(x) !== 0 && listOf(v).some((r) => ipFamily(r) !== 0 && ipFamily(r) !== ipFamily(x)));
      }),
    example: { case: exampleCase(allowIngest({ NotIpAddress: { 'aws:SourceIp': '10.1.2.3' } }), { 'aws:SourceIp': '2001:db8::5' }), expected: 'allow' },
  },
  {
    id: 'IPV4_CIDR_WITH_ZERO_PREFIX',
    reason:
      'A /0 block holds every address, so 0.0.0.0/0 matches any IPv4 address (RFC 4632; AWS uses it as "anywhere" throughout, e.g. ' +
      'security groups, and IpAddress takes standard CIDR notation per reference_policies_elements_condition_operators). iam-simulate ' +
      'builds the mask as -1 << (32 - prefix), and JavaScript masks a shift of 32 to 0, so 0.0.0.0/0 matches only 0.0.0.0.',
    applies: (c) =>
      [...conditionUses(c)].some((u) => u.base.endsWith('IpAddress') && contextValue(c.request, u.key) !== undefined && u.values.some((x) => ipFamily(x) === 4 && x.endsWith('/0'))),
    example: { case: exampleCase(allowIngest({ IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }), { 'aws:SourceIp': '10.1.2.3' }), expected: 'allow' },
  },
  {
    id: 'LENIENT_NUMBER_AND_DATE_PARSING',
    reason:
      'Numeric operators compare numbers and date operators take ISO 8601 (W3C profile) or epoch seconds ' +
      '(reference_policies_elements_condition_operators, Numeric and Date). iam-simulate reads numbers with parseFloat/parseInt, so ' +
      '"10.1.2.3" is 10.1, and dates with Date.parse, which accepts engine-specific text such as "1.5"; AWS has no such value.',
    applies: (c) =>
      [...conditionUses(c)].some((u) => {
        const v = contextValue(c.request, u.key);
        const all = [...u.values, ...(v === undefined ? [] : listOf(v))];
        if (u.base.startsWith('Numeric')) return all.some((x) => !isNumber(x) && !Number.isNaN(Number.parseFloat(x)));
        if (u.base.startsWith('Date')) return all.some((x) => !isDate(x) && !Number.isNaN(Date.parse(x)));
        return false;
      }),
    example: { case: exampleCase(allowIngest({ NumericLessThan: { 'aws:MultiFactorAuthAge': '300' } }), { 'aws:MultiFactorAuthAge': '10.1.2.3' }), expected: 'implicit-deny' },
  },
  {
    id: 'EPOCH_SECONDS_COMPARED_WITH_ISO_DATE',
    reason:
      'Date operators accept ISO 8601 or epoch (UNIX) time in seconds (reference_policies_elements_condition_operators, Date; aws:EpochTime). ' +
      'iam-simulate keeps an epoch value in seconds but parses an ISO date to milliseconds, so comparing the two is off by 1000x.',
    applies: (c) =>
      [...conditionUses(c)].some((u) => {
        const v = contextValue(c.request, u.key);
        if (!u.base.startsWith('Date') || v === undefined) return false;
        return u.values.some((x) => listOf(v).some((r) => isDate(x) && isDate(r) && isEpoch(x) !== isEpoch(r)));
      }),
    example: {
      case: exampleCase(allowIngest({ DateLessThan: { 'aws:CurrentTime': '1767225600' } }), { 'aws:CurrentTime': '2025-06-01T00:00:00Z' }),
      expected: 'allow',
    },
  },
  {
    id: 'UNRESOLVED_POLICY_VARIABLE_UNDER_NEGATION',
    reason:
      'AWS: a policy variable whose key has no value is "effectively null"; StringEquals/StringLike do not match it, but "inverted condition ' +
      'operators like StringNotEquals or StringNotLike do match against a null value" (reference_policies_variables, "Policy variables with ' +
      'no value"). The same holds for NotResource: the resource is not like a null value. iam-simulate makes the negated operator, and the ' +
      'NotResource entry, fail instead.',
    applies: (c) => {
      const negatedCondition = [...conditionUses(c)].some(
        (u) =>
          u.version === '2012-10-17' &&
          NEGATED_OPERATORS.has(u.base) &&
          contextValue(c.request, u.key) !== undefined &&
          u.values.some((x) => hasUnresolvedVariable(x, c.request)),
      );
      const notResource = [...documentsOf(c)].some(
        (d) => d.Version === '2012-10-17' && statementsOf(d).some((st) => st.NotResource !== undefined && listOf(st.NotResource).some((r) => hasUnresolvedVariable(r, c.request))),
      );
      return negatedCondition || notResource;
    },
    example: {
      case: exampleCase(allowIngest({ StringNotEquals: { 'aws:username': '${aws:PrincipalTag/team}' } }), { 'aws:username': 'alice' }),
      expected: 'allow',
    },
  },
  {
    id: 'ESCAPE_IN_OPERATOR_WITHOUT_WILDCARDS',
    reason:
      'AWS: ${*}, ${?} and ${$} are special policy variables that stand for a literal *, ? and $, usable wherever policy variables are ' +
      '(reference_policies_variables, "Special characters"). In StringEquals-like operators iam-simulate leaves them as the literal ' +
      'four characters "${?}", so a request value "?" does not match.',
    applies: (c) =>
      [...conditionUses(c)].some(
        (u) => u.version === '2012-10-17' && /^String(Not)?Equals(IgnoreCase)?$/.test(u.base) && u.values.some((x) => /\$\{[*?$]\}/.test(x)),
      ),
    example: { case: exampleCase(allowIngest({ StringEquals: { 'aws:username': 'a${*}' } }), { 'aws:username': 'a*' }), expected: 'allow' },
  },
  {
    id: 'POLICY_VARIABLE_INSIDE_ARN_CONDITION_VALUE',
    reason:
      'Policy variables work in ARN condition values (reference_policies_variables, "Where you can use policy variables") and are replaced ' +
      'before matching. iam-simulate splits the value at every colon first, which cuts ${aws:PrincipalAccount} in two.',
    applies: (c) => [...conditionUses(c)].some((u) => u.base.startsWith('Arn') && u.version === '2012-10-17' && u.values.some((x) => /\$\{[^}]*:[^}]*\}/.test(x))),
    example: {
      case: exampleCase(allowIngest({ ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::${aws:PrincipalAccount}:role/*' } }), {
        'aws:PrincipalArn': ROLES.ingest,
        'aws:PrincipalAccount': ACCOUNT,
      }),
      expected: 'allow',
    },
  },
  {
    id: 'POLICY_VARIABLES_NEED_VERSION_2012_10_17',
    reason:
      'AWS: policy variables are recognised only with "Version": "2012-10-17"; with 2008-10-17 or no Version, ${...} is literal text ' +
      '(reference_policies_variables, reference_policies_elements_version). iam-simulate substitutes them regardless of Version.',
    applies: (c) => [...documentsOf(c)].some((d) => d.Version !== '2012-10-17' && JSON.stringify(d).includes('${')),
    example: {
      case: exampleCase(allowIngest({ StringEquals: { 'aws:username': '${aws:username}' } }), { 'aws:username': 'alice' }, '2008-10-17'),
      expected: 'implicit-deny',
    },
  },
  {
    id: 'NOT_PRINCIPAL_NEEDS_ACCOUNT_AND_IDENTITY',
    reason:
      'AWS checks a NotPrincipal against the account first and then the role and session, so a caller escapes a Deny only if its ' +
      'account and its identity are both listed; listing the role alone "might deny access to the entire account that contains the ' +
      'principal" (reference_policies_elements_notprincipal). iam-simulate exempts a caller matched by any single entry.',
    applies: (c) =>
      statementsOf(c.resourcePolicy).some((st) => {
        const np = st.NotPrincipal;
        if (np === undefined || np === '*') return false;
        const aws = np['AWS'];
        const entries = aws === undefined ? [] : listOf(aws);
        if (entries.includes('*')) return false;
        const named = namedBy(entries, c.request);
        return named.account !== named.identity;
      }),
    example: {
      case: {
        resourcePolicy: {
          Version: '2012-10-17',
          Statement: [
            allowIngest(undefined),
            { Effect: 'Deny', NotPrincipal: { AWS: ROLES.ingest }, Action: 'kms:*', Resource: '*' },
          ],
        },
        identityPolicies: [],
        request: requestOf('ingest', 'kms:Decrypt', KEY_ARN, {}),
      },
      expected: 'explicit-deny',
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Comparison and bookkeeping

interface Tally {
  compared: number;
  readonly excluded: Map<string, number>;
  readonly resourceDecisions: Record<Decision, number>;
  viaAccount: number;
}

const newTally = (): Tally => ({
  compared: 0,
  excluded: new Map(),
  resourceDecisions: { allow: 0, 'explicit-deny': 0, 'implicit-deny': 0 },
  viaAccount: 0,
});
const tallies: Record<string, Tally> = { builder: newTally(), generic: newTally() };
const timings: Record<string, number> = {};

interface Verdicts {
  readonly resource: ResourcePolicyDecision;
  readonly identity: Decision;
}

function ours(c: Case): Verdicts {
  // Through the parser, as the local KMS reads a stored policy.
  const resourcePolicy = parsePolicyDocument(JSON.stringify(c.resourcePolicy));
  const identity = c.identityPolicies.map((d) => parsePolicyDocument(JSON.stringify(d)));
  return { resource: evaluateResourcePolicy(resourcePolicy, c.request), identity: evaluateIdentityPolicies(identity, c.request) };
}

function theirs(c: Case): Verdicts {
  return { resource: simulateResourcePolicy(c.resourcePolicy, c.request), identity: simulateIdentityPolicies(c.identityPolicies, c.request) };
}

const agree = (a: Verdicts, b: Verdicts): boolean =>
  a.identity === b.identity &&
  a.resource.decision === b.resource.decision &&
  a.resource.allowedDirectly === b.resource.allowedDirectly &&
  a.resource.allowedViaAccount === b.resource.allowedViaAccount;

/** The known differences that cover a case, or none. */
function coveredBy(c: Case): string[] {
  return KNOWN_SIMULATOR_DIFFERENCES.filter((d) => d.applies(c)).map((d) => d.id);
}

/**
 * Why the evaluators disagree, attributed as narrowly as the policy allows: each disagreeing statement is split
 * into its skeleton (no Condition) and one probe per condition key, and every disagreeing piece must be covered
 * by a known difference on its own. Returns the ids that explain it, or undefined when something is unexplained.
 */
function explainDisagreement(c: Case): string[] | undefined {
  const ids = new Set<string>();
  const units: { doc: PolicyDocument; st: PolicyStatement; resource: boolean }[] = [
    ...statementsOf(c.resourcePolicy).map((st) => ({ doc: c.resourcePolicy, st, resource: true })),
    ...c.identityPolicies.flatMap((doc) => statementsOf(doc).map((st) => ({ doc, st, resource: false }))),
  ];
  const alone = (doc: PolicyDocument, st: PolicyStatement, resource: boolean): Case => {
    const single: PolicyDocument = doc.Version === undefined ? { Statement: [st] } : { Version: doc.Version, Statement: [st] };
    return resource
      ? { resourcePolicy: single, identityPolicies: [], request: c.request }
      : { resourcePolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }] }, identityPolicies: [single], request: c.request };
  };
  const explainPiece = (piece: Case): boolean => {
    if (agree(ours(piece), theirs(piece))) return true;
    const covering = coveredBy(piece);
    covering.forEach((id) => ids.add(id));
    return covering.length > 0;
  };
  for (const { doc, st, resource } of units) {
    if (agree(ours(alone(doc, st, resource)), theirs(alone(doc, st, resource)))) continue;
    const { Condition: condition, ...skeleton } = st;
    if (!explainPiece(alone(doc, skeleton as PolicyStatement, resource))) return undefined;
    for (const [op, block] of Object.entries(condition ?? {})) {
      for (const [key, values] of Object.entries(block)) {
        const probe: PolicyStatement = {
          Effect: 'Allow',
          ...(resource ? { Principal: '*' as const } : {}),
          Action: '*',
          Resource: '*',
          Condition: { [op]: { [key]: values } },
        };
        if (!explainPiece(alone(doc, probe, resource))) return undefined;
      }
    }
  }
  return ids.size > 0 ? [...ids].sort() : undefined;
}

/**
 * The property body. Agreement is always counted as compared. A disagreement passes only when known
 * differences explain every disagreeing piece of it (it is then excluded and counted under their ids).
 */
function compareCase(tally: Tally, c: Case): boolean {
  const a = ours(c);
  const b = theirs(c);
  if (agree(a, b)) {
    tally.compared += 1;
    tally.resourceDecisions[a.resource.decision] += 1;
    if (a.resource.allowedViaAccount) tally.viaAccount += 1;
    return true;
  }
  const known = explainDisagreement(c);
  if (known === undefined) {
    throw new Error(`evaluators disagree\nours:   ${JSON.stringify(a)}\ntheirs: ${JSON.stringify(b)}\ncase:   ${JSON.stringify(c)}`);
  }
  const id = known.join('+');
  tally.excluded.set(id, (tally.excluded.get(id) ?? 0) + 1);
  return true;
}

const SEED = fastCheckSeed(20_260_101);

// ---------------------------------------------------------------------------------------------
// Generator 1: the policies our builder emits, against requests our services (and others) make.

const contextKeyArb = (spellings: readonly string[], values: readonly string[]) =>
  fc.option(fc.record({ name: fc.constantFrom(...spellings), value: fc.constantFrom(...values) }), { nil: undefined });

/** What ingest really sends: exact key names, an employee and a scope. */
const wellFormedContextArb = fc.record({
  employeeId: fc.constantFrom('e-42', 'e-7'),
  scope: fc.constantFrom(...SCOPES),
  batchId: fc.constantFrom('b-1', 'b-2'),
});

const anyContextArb = fc
  .record({
    employee: contextKeyArb(['employeeId', 'EmployeeId', 'employeeid'], ['e-42', 'e-7', 'E-42']),
    scope: contextKeyArb(['scope', 'Scope'], [...SCOPES, 'Clicks', 'screen']),
    batch: contextKeyArb(['batchId', 'BatchID'], ['b-1', 'b-2']),
    extra: contextKeyArb(['deviceId', 'extra'], ['d-1']),
  })
  .map((ec) => {
    const pairs = [ec.employee, ec.scope, ec.batch, ec.extra].filter((p): p is { name: string; value: string } => p !== undefined);
    return Object.fromEntries(pairs.map((p) => [p.name, p.value]));
  });

const encryptionContextArb: fc.Arbitrary<Record<string, string>> = fc.oneof(wellFormedContextArb, anyContextArb);

const builderCaseArb = fc
  .record({
    scopes: fc.subarray([...SCOPES], { minLength: 1 }),
    employeeId: fc.constantFrom('e-42', 'e-7'),
    withAuditor: fc.boolean(),
    withTraining: fc.boolean(),
    nowMs: fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 0, 1) }),
    pauseOffsetMs: fc.oneof(fc.integer({ min: -7_200_000, max: 7_200_000 }), fc.constantFrom(0, 1, -1)),
    // Weighted towards the interesting path: ingest asking for a data key while consent is active or paused.
    status: fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...CONSENT_STATUSES) },
      { weight: 3, arbitrary: fc.constantFrom('active' as const, 'paused' as const) },
      // A withdrawn consent keeps ExportGrants: the export grant conditions must agree there too.
      { weight: 1, arbitrary: fc.constant('revoked' as const) },
    ),
    caller: fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...CALLER_NAMES) }, { weight: 1, arbitrary: fc.constant('ingest') }),
    action: fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...KMS_ACTIONS) },
      { weight: 2, arbitrary: fc.constant('kms:GenerateDataKey') },
      { weight: 1, arbitrary: fc.constant('kms:CreateGrant') },
    ),
    encryptionContext: encryptionContextArb,
    grantOperations: fc.option(fc.subarray(['Decrypt', 'Encrypt', 'GenerateDataKey', 'RetireGrant']), { nil: undefined }),
    grantee: fc.constantFrom(ROLES.export, ROLES.ingest, FOREIGN_ROLE, roleArn('cc-training')),
    grantIsForAwsResource: fc.option(fc.constantFrom('true', 'false'), { nil: undefined }),
    retiringPrincipal: fc.option(fc.constantFrom(ROLES.export, ROLES.steward, CONSENT_ROLE, roleArn('cc-training')), { nil: undefined }),
    grantConstraintType: fc.option(fc.constantFrom('EncryptionContextSubset', 'EncryptionContextEquals'), { nil: undefined }),
    // The key's tags as aws:ResourceTag/<key>: the erasure tag opens Shredding to the purge role.
    erasureTag: fc.option(fc.constantFrom('requested', 'Requested', 'no'), { nil: undefined }),
    requestTags: fc.option(fc.dictionary(fc.constantFrom('erasure', 'app'), fc.constantFrom('requested', 'no'), { minKeys: 1 }), { nil: undefined }),
  })
  .map((g): Case => {
    const base: KeyPolicyRoles = { ingest: ROLES.ingest, steward: ROLES.steward, export: ROLES.export, purge: ROLES.purge };
    const roles: KeyPolicyRoles = { ...base, ...(g.withAuditor ? { auditor: ROLES.auditor } : {}), ...(g.withTraining ? { training: ROLES.training } : {}) };
    const state: KeyPolicyState =
      g.status === 'paused'
        ? { employeeId: g.employeeId, status: g.status, scopes: g.scopes, pausedUntil: new Date(g.nowMs + g.pauseOffsetMs).toISOString() }
        : { employeeId: g.employeeId, status: g.status, scopes: g.scopes };
    const caller = CALLERS[g.caller];
    if (caller === undefined) throw new Error(`no caller ${g.caller}`);
    const context: Record<string, PolicyValue> = {
      'aws:CurrentTime': new Date(g.nowMs).toISOString(),
      'aws:EpochTime': String(Math.floor(g.nowMs / 1000)),
      'aws:PrincipalArn': caller.arn,
      'aws:PrincipalAccount': caller.accountId,
      'kms:CallerAccount': caller.accountId,
    };
    const ecKeys = Object.keys(g.encryptionContext);
    // As KMS does: no encryption context, no kms:EncryptionContext* keys at all.
    if (ecKeys.length > 0) {
      for (const [k, v] of Object.entries(g.encryptionContext)) context[`kms:EncryptionContext:${k}`] = v;
      context['kms:EncryptionContextKeys'] = ecKeys;
    }
    context['aws:ResourceTag/app'] = 'consent-capture';
    if (g.erasureTag !== undefined) context['aws:ResourceTag/erasure'] = g.erasureTag;
    if (g.action === 'kms:CreateGrant') {
      if (g.grantOperations !== undefined) context['kms:GrantOperations'] = g.grantOperations;
      context['kms:GranteePrincipal'] = g.grantee;
      if (g.grantIsForAwsResource !== undefined) context['kms:GrantIsForAWSResource'] = g.grantIsForAwsResource;
      if (g.retiringPrincipal !== undefined) context['kms:RetiringPrincipal'] = g.retiringPrincipal;
      // For CreateGrant the kms:EncryptionContext:* keys are the constraint's pairs (the generated context stands for them).
      if (g.grantConstraintType !== undefined) context['kms:GrantConstraintType'] = g.grantConstraintType;
    }
    if (g.action === 'kms:TagResource' && g.requestTags !== undefined) {
      for (const [k, v] of Object.entries(g.requestTags)) context[`aws:RequestTag/${k}`] = v;
      context['aws:TagKeys'] = Object.keys(g.requestTags);
    }
    return {
      resourcePolicy: buildKeyPolicy(state, roles),
      identityPolicies: caller.identityPolicies,
      request: requestOf(g.caller, g.action, KEY_ARN, context),
    };
  });

// ---------------------------------------------------------------------------------------------
// Generator 2: generic policies over a fixed vocabulary of keys, operators and values.

type Family = 'string' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn';

interface VocabularyKey {
  readonly spellings: readonly string[];
  readonly family: Family;
  readonly multivalued: boolean;
  readonly policyValues: readonly string[];
  readonly contextValues: readonly string[];
}

// Values that our vocabulary deliberately includes: wildcards, variables with and without defaults,
// the ${*} ${?} ${$} escapes, malformed numbers, dates, IPs and ARNs, and case variants.
const VOCABULARY: readonly VocabularyKey[] = [
  {
    spellings: ['aws:username', 'AWS:UserName'],
    family: 'string',
    multivalued: false,
    policyValues: ['alice', 'Alice', 'al*', '?lice', '${aws:PrincipalTag/team}', '${aws:username}', "${aws:nosuchkey, 'alice'}", '${aws:missing}', 'a${*}', 'x${$}y', '${?}'],
    contextValues: ['alice', 'Alice', 'bob', 'a*', 'x$y', '?', 'hr'],
  },
  {
    spellings: ['aws:PrincipalTag/team', 'aws:principaltag/TEAM'],
    family: 'string',
    multivalued: false,
    policyValues: ['hr', 'eng', 'HR', 'e?g', '${aws:username}'],
    contextValues: ['hr', 'eng', 'alice'],
  },
  {
    spellings: ['kms:EncryptionContext:dept', 'kms:encryptioncontext:Dept'],
    family: 'string',
    multivalued: false,
    policyValues: ['hr', 'HR', 'eng*', '${aws:PrincipalTag/team}'],
    contextValues: ['hr', 'HR', 'engineering'],
  },
  {
    spellings: ['aws:PrincipalAccount'],
    family: 'string',
    multivalued: false,
    policyValues: [ACCOUNT, OTHER_ACCOUNT, '1111*'],
    contextValues: [ACCOUNT, OTHER_ACCOUNT],
  },
  {
    spellings: ['kms:EncryptionContextKeys', 'KMS:EncryptionContextKeys'],
    family: 'string',
    multivalued: true,
    policyValues: ['dept', 'Dept', 'scope', 'd*', 's?ope'],
    contextValues: ['dept', 'Dept', 'scope', 'batchId'],
  },
  {
    spellings: ['aws:TagKeys'],
    family: 'string',
    multivalued: true,
    policyValues: ['app', 'employeeId', 'emp*'],
    contextValues: ['app', 'employeeId', 'other'],
  },
  {
    spellings: ['aws:ResourceTag/erasure', 'aws:resourcetag/Erasure'],
    family: 'string',
    multivalued: false,
    policyValues: ['requested', 'Requested', 'req*'],
    contextValues: ['requested', 'Requested', 'no'],
  },
  {
    spellings: ['kms:GrantOperations'],
    family: 'string',
    multivalued: true,
    policyValues: ['Decrypt', 'Encrypt', 'Gen*'],
    contextValues: ['Decrypt', 'Encrypt', 'GenerateDataKey'],
  },
  {
    spellings: ['aws:CurrentTime', 'aws:currenttime'],
    family: 'date',
    multivalued: false,
    policyValues: ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z', '2026-01-01T02:00:00+02:00', '2026-01-01', '1767225600', 'not-a-date'],
    contextValues: ['2025-12-31T23:59:59Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.500Z', '2027-06-01T00:00:00Z', 'not-a-date'],
  },
  {
    spellings: ['aws:EpochTime'],
    family: 'date',
    multivalued: false,
    policyValues: ['1767225600', '1767225601', '2026-01-01T00:00:00Z'],
    contextValues: ['1767225599', '1767225600', '1767225700'],
  },
  {
    spellings: ['aws:MultiFactorAuthAge'],
    family: 'numeric',
    multivalued: false,
    policyValues: ['0', '300', '3600', '1.5', '-1', 'abc'],
    contextValues: ['0', '299', '300', '3601', '1.5', 'abc'],
  },
  {
    spellings: ['aws:SecureTransport', 'aws:securetransport'],
    family: 'bool',
    multivalued: false,
    policyValues: ['true', 'false', 'TRUE', 'maybe'],
    contextValues: ['true', 'false', 'False', 'yes'],
  },
  {
    spellings: ['kms:EncryptionContext:blob'],
    family: 'binary',
    multivalued: false,
    policyValues: ['QUJD', 'QUJE'],
    contextValues: ['QUJD', 'qujd'],
  },
  {
    spellings: ['aws:SourceIp', 'aws:sourceip'],
    family: 'ip',
    multivalued: false,
    policyValues: ['10.0.0.0/8', '10.1.2.3', '192.168.0.0/16', '0.0.0.0/0', '2001:db8::/32', '::1', 'bad-ip', '10.0.0.0/33'],
    contextValues: ['10.1.2.3', '10.200.0.1', '192.168.1.1', '8.8.8.8', '2001:db8::5', '::1', 'garbage'],
  },
  {
    spellings: ['aws:PrincipalArn', 'AWS:PrincipalARN'],
    family: 'arn',
    multivalued: false,
    policyValues: [
      ROLES.ingest,
      ROLES.steward,
      `arn:aws:iam::${ACCOUNT}:role/*`,
      'arn:aws:iam::*:role/cc-?ngest',
      'arn:aws:iam::${aws:PrincipalAccount}:role/cc-ingest',
      `arn:aws:iam::${ACCOUNT}:role/CC-INGEST`,
      'not-an-arn',
    ],
    contextValues: [ROLES.ingest, ROLES.steward, FOREIGN_ROLE, 'not-an-arn'],
  },
];

const OPERATORS_OF: Readonly<Record<Family, readonly string[]>> = {
  string: ['StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike'],
  numeric: ['NumericEquals', 'NumericNotEquals', 'NumericLessThan', 'NumericLessThanEquals', 'NumericGreaterThan', 'NumericGreaterThanEquals'],
  date: ['DateEquals', 'DateNotEquals', 'DateLessThan', 'DateLessThanEquals', 'DateGreaterThan', 'DateGreaterThanEquals'],
  bool: ['Bool'],
  binary: ['BinaryEquals'],
  ip: ['IpAddress', 'NotIpAddress'],
  arn: ['ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike', 'StringLike', 'StringEquals'],
};
const FAMILIES = Object.keys(OPERATORS_OF) as Family[];

interface ConditionEntry {
  readonly operator: string;
  readonly key: string;
  readonly values: PolicyValue;
}

const vocabularyIndexArb = fc.nat({ max: VOCABULARY.length - 1 });

const conditionEntryArb: fc.Arbitrary<ConditionEntry> = fc
  .record({
    keyIndex: vocabularyIndexArb,
    spelling: fc.nat(),
    // Mostly operators that suit the key; sometimes any family, so types mismatch.
    mismatch: fc.integer({ min: 0, max: 99 }).map((n) => n < 15),
    family: fc.constantFrom(...FAMILIES),
    operator: fc.nat(),
    nullCheck: fc.integer({ min: 0, max: 99 }).map((n) => n < 10),
    setOperator: fc.integer({ min: 0, max: 99 }),
    ifExists: fc.integer({ min: 0, max: 99 }).map((n) => n < 25),
    values: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    asArray: fc.boolean(),
  })
  .map((g): ConditionEntry => {
    const key = VOCABULARY[g.keyIndex] ?? VOCABULARY[0];
    if (key === undefined) throw new Error('empty vocabulary');
    const keyName = key.spellings[g.spelling % key.spellings.length] ?? key.spellings[0] ?? '';
    if (g.nullCheck) {
      return { operator: 'Null', key: keyName, values: g.values[0] !== undefined && g.values[0] % 2 === 0 ? 'true' : 'false' };
    }
    const family = g.mismatch ? g.family : key.family;
    const operators = OPERATORS_OF[family];
    const base = operators[g.operator % operators.length] ?? 'StringEquals';
    // Values come from a key of the operator's family, so a mismatch still carries well-typed values.
    const source = family === key.family ? key : (VOCABULARY.find((k) => k.family === family) ?? key);
    const picked = [...new Set(g.values.map((i) => source.policyValues[i % source.policyValues.length] ?? ''))];
    const set = key.multivalued ? (g.setOperator < 40 ? 'ForAllValues:' : g.setOperator < 75 ? 'ForAnyValue:' : '') : g.setOperator < 15 ? 'ForAnyValue:' : g.setOperator < 25 ? 'ForAllValues:' : '';
    const operator = `${set}${base}${g.ifExists ? 'IfExists' : ''}`;
    return { operator, key: keyName, values: picked.length === 1 && !g.asArray ? (picked[0] ?? '') : picked };
  });

function conditionBlock(entries: readonly ConditionEntry[]): Record<string, Record<string, PolicyValue>> {
  const block: Record<string, Record<string, PolicyValue>> = {};
  for (const e of entries) block[e.operator] = { ...block[e.operator], [e.key]: e.values };
  return block;
}

const ACTIONS = ['kms:*', '*', 'kms:Generate*', 'kms:GenerateDataKey', 'kms:Decrypt', 'KMS:decrypt', 'kms:?ncrypt', 'kms:Describe*', 's3:GetObject'];
const RESOURCES = [
  '*',
  KEY_ARN,
  OTHER_KEY_ARN,
  `arn:aws:kms:${REGION}:${ACCOUNT}:key/*`,
  `arn:aws:kms:*:${ACCOUNT}:key/*`,
  `arn:aws:kms:${REGION}:${ACCOUNT}:key/\${aws:username}`,
  `arn:aws:kms:${REGION}:${ACCOUNT}:key/????????-*`,
  `arn:aws:kms:${REGION}:${ACCOUNT}:alias/*`,
];
const PRINCIPAL_IDS = [
  ROLES.ingest,
  ROLES.steward,
  ACCOUNT,
  `arn:aws:iam::${ACCOUNT}:root`,
  OTHER_ACCOUNT,
  FOREIGN_ROLE,
  sessionArn('cc-ingest'),
  'AROAEXAMPLEID12345678',
];

const principalArb: fc.Arbitrary<PolicyStatement['Principal']> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('*' as const) },
  { weight: 1, arbitrary: fc.constant({ AWS: '*' }) },
  { weight: 6, arbitrary: fc.subarray(PRINCIPAL_IDS, { minLength: 1, maxLength: 3 }).map((ids) => ({ AWS: ids.length === 1 ? (ids[0] ?? '*') : ids })) },
  { weight: 1, arbitrary: fc.constant({ Service: 'kms.amazonaws.com' }) },
  { weight: 1, arbitrary: fc.subarray(PRINCIPAL_IDS, { minLength: 1, maxLength: 2 }).map((ids) => ({ AWS: ids, Federated: 'cognito-identity.amazonaws.com' })) },
);

const statementArb = (kind: 'resource' | 'identity'): fc.Arbitrary<PolicyStatement> =>
  fc
    .record({
      deny: fc.integer({ min: 0, max: 99 }).map((n) => n < 35),
      notAction: fc.integer({ min: 0, max: 99 }).map((n) => n < 15),
      actions: fc.subarray(ACTIONS, { minLength: 1, maxLength: 3 }),
      notResource: fc.integer({ min: 0, max: 99 }).map((n) => n < 15),
      resources: fc.subarray(RESOURCES, { minLength: 1, maxLength: 2 }),
      principal: principalArb,
      notPrincipal: fc.integer({ min: 0, max: 99 }).map((n) => n < 30),
      conditions: fc.array(conditionEntryArb, { maxLength: 3 }),
    })
    .map((g): PolicyStatement => {
      const effect = g.deny ? 'Deny' : 'Allow';
      const action = g.notAction ? { NotAction: g.actions } : { Action: g.actions.length === 1 ? (g.actions[0] ?? '*') : g.actions };
      const resource = g.notResource ? { NotResource: g.resources } : { Resource: g.resources.length === 1 ? (g.resources[0] ?? '*') : g.resources };
      const condition = g.conditions.length === 0 ? {} : { Condition: conditionBlock(g.conditions) };
      let principal = {};
      // NotPrincipal is Deny-only in AWS, and our grammar rejects it with Allow.
      if (kind === 'resource') principal = g.deny && g.notPrincipal ? { NotPrincipal: g.principal } : { Principal: g.principal };
      return { Effect: effect, ...principal, ...action, ...resource, ...condition };
    });

const versionArb = fc.integer({ min: 0, max: 99 }).map((n): string | undefined => (n < 85 ? '2012-10-17' : n < 93 ? '2008-10-17' : undefined));

const documentArb = (kind: 'resource' | 'identity'): fc.Arbitrary<PolicyDocument> =>
  fc.record({ version: versionArb, statements: fc.array(statementArb(kind), { minLength: 1, maxLength: 4 }) }).map((g) => {
    const statement = g.statements.length === 1 ? { Statement: g.statements[0] as PolicyStatement } : { Statement: g.statements };
    return g.version === undefined ? statement : { Version: g.version, ...statement };
  });

const contextArb: fc.Arbitrary<Record<string, PolicyValue>> = fc
  .array(
    fc.record({
      present: fc.integer({ min: 0, max: 99 }).map((n) => n < 70),
      spelling: fc.nat(),
      single: fc.nat(),
      many: fc.array(fc.nat(), { maxLength: 3 }),
    }),
    { minLength: VOCABULARY.length, maxLength: VOCABULARY.length },
  )
  .map((picks) => {
    const context: Record<string, PolicyValue> = {};
    picks.forEach((p, i) => {
      const key = VOCABULARY[i];
      if (key === undefined || !p.present) return;
      // One spelling per key: names differing only in case would be one key twice.
      const name = key.spellings[p.spelling % key.spellings.length] ?? key.spellings[0] ?? '';
      context[name] = key.multivalued
        ? [...new Set(p.many.map((n) => key.contextValues[n % key.contextValues.length] ?? ''))]
        : (key.contextValues[p.single % key.contextValues.length] ?? '');
    });
    return context;
  });

const genericCaseArb: fc.Arbitrary<Case> = fc
  .record({
    resourcePolicy: documentArb('resource'),
    identityPolicies: fc.array(documentArb('identity'), { maxLength: 2 }),
    caller: fc.constantFrom('ingest', 'ingest-without-session', 'steward', 'admin', 'foreign'),
    action: fc.constantFrom('kms:GenerateDataKey', 'kms:Decrypt', 'kms:Encrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext'),
    resource: fc.constantFrom(KEY_ARN, OTHER_KEY_ARN, `arn:aws:kms:${REGION}:${ACCOUNT}:key/alice`),
    context: contextArb,
  })
  .map((g): Case => ({
    resourcePolicy: g.resourcePolicy,
    identityPolicies: g.identityPolicies,
    request: requestOf(g.caller, g.action, g.resource, g.context),
  }));

// ---------------------------------------------------------------------------------------------

describe('policy evaluator vs iam-simulate', () => {
  afterAll(() => {
    const lines = Object.entries(tallies).map(([name, t]) => {
      const total = [...t.excluded.values()].reduce((n, e) => n + e, 0);
      // A summary, not the full list (a line of thousands of characters): the three commonest
      // exclusions and how many kinds there were. DIFFERENTIAL_DETAIL=1 lists every kind.
      const ranked = [...t.excluded.entries()].sort((a, b) => b[1] - a[1]);
      const shown = process.env['DIFFERENTIAL_DETAIL'] === '1' ? ranked : ranked.slice(0, 3);
      const byId = shown.map(([id, n]) => `${id} ${n}`).join(', ') + (ranked.length > shown.length ? `, and ${ranked.length - shown.length} more kinds` : '');
      return `  ${name}: ${t.compared} compared and agreed, ${total} excluded by known simulator differences${byId ? ` (${byId})` : ''}; resource decisions ${Object.entries(t.resourceDecisions).map(([d, n]) => `${d} ${n}`).join(', ')}; ${timings[name] ?? '?'} ms`;
    });
    console.log(`policy-evaluator differential (seed ${SEED}; set FC_SEED to change it):\n${lines.join('\n')}`);
  });

  it('agrees on the key policies our builder emits, for every principal, action, context and time', () => {
    // Arrange
    const tally = tallies['builder'] ?? newTally();
    const started = performance.now();

    // Act
    fc.assert(
      fc.property(builderCaseArb, (c) => compareCase(tally, c)),
      { numRuns: 2000, seed: SEED, reporter: shortReport },
    );
    timings['builder'] = Math.round(performance.now() - started);

    // Assert: the generator reached every outcome, so agreement means something.
    expect(tally.compared).toBeGreaterThanOrEqual(2000);
    expect(tally.resourceDecisions.allow).toBeGreaterThan(50);
    expect(tally.resourceDecisions['explicit-deny']).toBeGreaterThan(20);
    expect(tally.resourceDecisions['implicit-deny']).toBeGreaterThan(50);
  });

  it('agrees on generic policies over every operator, prefix, suffix, principal form and variable', () => {
    // Arrange
    const tally = tallies['generic'] ?? newTally();
    const started = performance.now();

    // Act
    fc.assert(
      fc.property(genericCaseArb, (c) => compareCase(tally, c)),
      { numRuns: 3000, seed: SEED, reporter: shortReport },
    );
    timings['generic'] = Math.round(performance.now() - started);

    // Assert: known differences stay a minority, and every outcome was reached.
    const excluded = [...tally.excluded.values()].reduce((n, e) => n + e, 0);
    expect(tally.compared).toBeGreaterThanOrEqual(2000);
    expect(excluded).toBeLessThan(tally.compared / 10);
    expect(tally.resourceDecisions.allow).toBeGreaterThan(50);
    expect(tally.resourceDecisions['explicit-deny']).toBeGreaterThan(50);
    expect(tally.resourceDecisions['implicit-deny']).toBeGreaterThan(50);
    expect(tally.viaAccount).toBeGreaterThan(10);
  });

  describe('the conditions of erasure, export and training grants, case by case', () => {
    const policy = buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks'] }, ROLES);
    const base = (caller: string): Record<string, PolicyValue> => ({
      'aws:CurrentTime': '2026-06-01T00:00:00Z',
      'aws:PrincipalArn': CALLERS[caller]?.arn ?? '',
      'aws:PrincipalAccount': ACCOUNT,
      'aws:ResourceTag/app': 'consent-capture',
    });
    const grant: Record<string, PolicyValue> = {
      'kms:GrantOperations': ['Decrypt'],
      'kms:GranteePrincipal': ROLES.export,
      'kms:RetiringPrincipal': ROLES.export,
      'kms:GrantIsForAWSResource': 'false',
      'kms:GrantConstraintType': 'EncryptionContextSubset',
      'kms:EncryptionContext:employeeId': 'e-42',
      'kms:EncryptionContextKeys': ['employeeId'],
    };
    const training: Record<string, PolicyValue> = {
      'kms:GrantOperations': ['Decrypt'],
      'kms:GranteePrincipal': ROLES.training ?? '',
      'kms:GrantIsForAWSResource': 'false',
      'kms:GrantConstraintType': 'EncryptionContextSubset',
      'kms:EncryptionContext:employeeId': 'e-42',
      'kms:EncryptionContext:scope': 'clicks',
      'kms:EncryptionContextKeys': ['employeeId', 'scope'],
    };
    const trainingWithout = (key: string) => Object.fromEntries(Object.entries(training).filter(([k]) => k !== key));
    const cases: [string, string, string, Record<string, PolicyValue>, Decision][] = [
      ['purge DisableKey, untagged', 'purge', 'kms:DisableKey', {}, 'implicit-deny'],
      ['purge DisableKey, erasure=Requested', 'purge', 'kms:DisableKey', { 'aws:ResourceTag/erasure': 'Requested' }, 'implicit-deny'],
      ['purge DisableKey, erasure=requested', 'purge', 'kms:DisableKey', { 'aws:ResourceTag/erasure': 'requested' }, 'allow'],
      ['purge ScheduleKeyDeletion, erasure=requested', 'purge', 'kms:ScheduleKeyDeletion', { 'aws:ResourceTag/erasure': 'requested' }, 'allow'],
      ['steward DisableKey, erasure=requested', 'steward', 'kms:DisableKey', { 'aws:ResourceTag/erasure': 'requested' }, 'implicit-deny'],
      ['steward tags erasure=requested', 'steward', 'kms:TagResource', { 'aws:RequestTag/erasure': 'requested', 'aws:TagKeys': ['erasure'] }, 'allow'],
      ['steward tags erasure=requested and app', 'steward', 'kms:TagResource', { 'aws:RequestTag/erasure': 'requested', 'aws:RequestTag/app': 'x', 'aws:TagKeys': ['erasure', 'app'] }, 'implicit-deny'],
      ['steward tags erasure=no', 'steward', 'kms:TagResource', { 'aws:RequestTag/erasure': 'no', 'aws:TagKeys': ['erasure'] }, 'implicit-deny'],
      ['purge tags erasure=requested', 'purge', 'kms:TagResource', { 'aws:RequestTag/erasure': 'requested', 'aws:TagKeys': ['erasure'] }, 'implicit-deny'],
      ['steward untags erasure', 'steward', 'kms:UntagResource', { 'aws:TagKeys': ['erasure'] }, 'implicit-deny'],
      ['steward grants, constrained to the employee', 'steward', 'kms:CreateGrant', grant, 'allow'],
      ['steward grants, constrained to another employee', 'steward', 'kms:CreateGrant', { ...grant, 'kms:EncryptionContext:employeeId': 'e-7' }, 'implicit-deny'],
      ['steward grants, EncryptionContextEquals', 'steward', 'kms:CreateGrant', { ...grant, 'kms:GrantConstraintType': 'EncryptionContextEquals' }, 'implicit-deny'],
      ['steward grants, retirable by itself', 'steward', 'kms:CreateGrant', { ...grant, 'kms:RetiringPrincipal': ROLES.steward }, 'implicit-deny'],
      // The HTTP-facing consent role: no key write of any kind, under any condition.
      ['consent puts a policy', 'consent', 'kms:PutKeyPolicy', {}, 'implicit-deny'],
      ['consent tags erasure=requested', 'consent', 'kms:TagResource', { 'aws:RequestTag/erasure': 'requested', 'aws:TagKeys': ['erasure'] }, 'implicit-deny'],
      ['consent grants, constrained to the employee', 'consent', 'kms:CreateGrant', grant, 'implicit-deny'],
      ['consent creates an alias', 'consent', 'kms:CreateAlias', {}, 'implicit-deny'],
      ['consent revokes a grant', 'consent', 'kms:RevokeGrant', {}, 'implicit-deny'],
      // Training grants: only to the training role, only for this employee and a scope consented now (clicks).
      ['steward grants training, clicks (consented)', 'steward', 'kms:CreateGrant', training, 'allow'],
      ['steward grants training, keystrokes (not consented)', 'steward', 'kms:CreateGrant', { ...training, 'kms:EncryptionContext:scope': 'keystrokes' }, 'implicit-deny'],
      ['steward grants training, no scope in the constraint', 'steward', 'kms:CreateGrant', trainingWithout('kms:EncryptionContext:scope'), 'implicit-deny'],
      ['steward grants training, another employee', 'steward', 'kms:CreateGrant', { ...training, 'kms:EncryptionContext:employeeId': 'e-7' }, 'implicit-deny'],
      ['steward grants training, retirable by the training role', 'steward', 'kms:CreateGrant', { ...training, 'kms:RetiringPrincipal': ROLES.training ?? '' }, 'implicit-deny'],
      ['steward grants training, Encrypt too', 'steward', 'kms:CreateGrant', { ...training, 'kms:GrantOperations': ['Decrypt', 'Encrypt'] }, 'implicit-deny'],
      ['training grants itself', 'training', 'kms:CreateGrant', training, 'implicit-deny'],
      ['training decrypts without a grant', 'training', 'kms:Decrypt', { 'kms:EncryptionContext:employeeId': 'e-42', 'kms:EncryptionContext:scope': 'clicks', 'kms:EncryptionContextKeys': ['employeeId', 'scope'] }, 'implicit-deny'],
    ];

    it.each(cases)('%s: both evaluators decide as AWS documents', (_name, caller, action, extra, expected) => {
      // Arrange
      const c: Case = { resourcePolicy: policy, identityPolicies: CALLERS[caller]?.identityPolicies ?? [], request: requestOf(caller, action, KEY_ARN, { ...base(caller), ...extra }) };

      // Act
      const a = ours(c);
      const b = theirs(c);

      // Assert
      expect(a.resource.decision).toBe(expected);
      expect(b.resource.decision).toBe(expected);
    });
  });

  it.each(KNOWN_SIMULATOR_DIFFERENCES.map((d) => [d.id, d] as const))('%s is a real simulator difference', (_id, difference) => {
    // Arrange
    const { case: c, expected } = difference.example;

    // Act
    const a = ours(c);
    const b = theirs(c);

    // Assert: the filter covers its own example, we decide as AWS documents, and the simulator does not.
    expect(difference.applies(c)).toBe(true);
    expect(a.resource.decision).toBe(expected);
    expect(b.resource.decision).not.toBe(expected);
  });
});

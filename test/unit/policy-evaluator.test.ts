// Unit tests of the local KMS's IAM policy evaluator, down to each operator family and the key policies our builder emits.
import { describe, expect, it } from 'vitest';
import { buildKeyPolicy, buildShreddedKeyPolicy, type KeyPolicyRoles, type KeyPolicyState } from '../../lambdas/shared/key-policy.js';
import {
  evaluateIdentityPolicies,
  evaluateResourcePolicy,
  parseDate,
  parsePolicyDocument,
  PolicyGrammarError,
  type EvaluationRequest,
  type PolicyDocument,
  type PolicyStatement,
  type PolicyValue,
} from '../../local/kms/policy-evaluator.js';

const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const role = (name: string, account = ACCOUNT): string => `arn:aws:iam::${account}:role/${name}`;
const session = (name: string, account = ACCOUNT): string => `arn:aws:sts::${account}:assumed-role/${name}/${name}-session`;

const ROLES: KeyPolicyRoles = {
  ingest: role('cc-ingest'),
  steward: role('cc-steward'),
  export: role('cc-export'),
  purge: role('cc-purge'),
  auditor: role('cc-auditor'),
};

interface Who {
  readonly arn: string;
  readonly sessionArn?: string;
  readonly accountId: string;
}
const INGEST: Who = { arn: ROLES.ingest, sessionArn: session('cc-ingest'), accountId: ACCOUNT };
const asRole = (name: string): Who => ({ arn: role(name), sessionArn: session(name), accountId: ACCOUNT });

function request(options: { who?: Who; action?: string; resource?: string; context?: Record<string, PolicyValue> } = {}): EvaluationRequest {
  return {
    principal: options.who ?? INGEST,
    action: options.action ?? 'kms:Decrypt',
    resource: options.resource ?? KEY_ARN,
    context: options.context ?? {},
  };
}

/** A key policy letting the ingest role do anything, under `condition`. */
function allowIngestWhen(condition: PolicyStatement['Condition'], version = '2012-10-17'): PolicyDocument {
  return {
    Version: version,
    Statement: [{ Effect: 'Allow', Principal: { AWS: ROLES.ingest }, Action: 'kms:*', Resource: '*', ...(condition ? { Condition: condition } : {}) }],
  };
}

/** Whether `condition` holds for `context`, read through a one-statement key policy. */
function holds(condition: PolicyStatement['Condition'], context: Record<string, PolicyValue>, version?: string): boolean {
  return evaluateResourcePolicy(allowIngestWhen(condition, version), request({ context })).decision === 'allow';
}

// ---------------------------------------------------------------------------------------------

describe('parsePolicyDocument', () => {
  it('accepts every policy the builder emits, unchanged', () => {
    // Arrange
    const states: KeyPolicyState[] = [
      { employeeId: 'e-1', status: 'none', scopes: [] },
      { employeeId: 'e-1', status: 'active', scopes: ['clicks'] },
      { employeeId: 'e-1', status: 'paused', scopes: ['clicks', 'keystrokes'], pausedUntil: '2026-01-01T00:00:00Z' },
      { employeeId: 'e-1', status: 'revoked', scopes: [] },
      { employeeId: 'e-1', status: 'purging', scopes: [] },
    ];
    const policies = states.map((s) => buildKeyPolicy(s, ROLES));

    // Act
    const parsed = policies.map((p) => parsePolicyDocument(JSON.stringify(p)));

    // Assert
    expect(parsed).toEqual(policies);
  });

  const statement = (extra: Record<string, unknown>): string =>
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*', ...extra }] });

  it.each([
    ['text that is not JSON', '{"Statement": [', /not valid JSON/],
    ['a policy that is an array', '[]', /must be a JSON object/],
    ['an unknown top-level element', '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}, "Extra": 1}', /unknown element "Extra"/],
    ['an unknown Version', '{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}', /Version: "2020-01-01"/],
    ['a missing Statement', '{"Version": "2012-10-17"}', /Statement is missing/],
    ['an empty Statement list', '{"Statement": []}', /at least one statement/],
    ['a Statement that is a string', '{"Statement": "Allow everything"}', /Statement: must be an object/],
    ['a statement that is a number', '{"Statement": [7]}', /Statement\[0\]: must be an object/],
    ['a missing Effect', '{"Statement": {"Action": "*", "Resource": "*"}}', /Effect is missing/],
    ['an Effect in the wrong case', statement({ Effect: 'allow' }), /Effect: "allow" must be "Allow" or "Deny"/],
    ['both Action and NotAction', statement({ NotAction: 'kms:Encrypt' }), /both Action and NotAction/],
    ['no Action at all', '{"Statement": {"Effect": "Allow", "Principal": "*", "Resource": "*"}}', /Action \(or NotAction\) is missing/],
    ['both Resource and NotResource', statement({ NotResource: KEY_ARN }), /both Resource and NotResource/],
    ['no Resource at all', '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*"}}', /Resource \(or NotResource\) is missing/],
    ['both Principal and NotPrincipal', statement({ Effect: 'Deny', NotPrincipal: { AWS: ROLES.ingest } }), /both Principal and NotPrincipal/],
    ['NotPrincipal with Allow', JSON.stringify({ Statement: { Effect: 'Allow', NotPrincipal: { AWS: ROLES.ingest }, Action: '*', Resource: '*' } }), /NotPrincipal is supported only with "Effect": "Deny"/],
    ['an action that is not a string', statement({ Action: 5 }), /non-empty strings, got 5/],
    ['an empty action list', statement({ Action: [] }), /empty list/],
    ['an action without a service', statement({ Action: 'Decrypt' }), /"Decrypt" is not an action/],
    ['a resource that is not an ARN', statement({ Resource: 'my-key' }), /"my-key" must be "\*" or an ARN/],
    ['a Principal string other than *', statement({ Principal: ROLES.ingest }), /Principal: must be "\*" or an object/],
    ['an unknown principal type', statement({ Principal: { IAM: ROLES.ingest } }), /unknown principal type "IAM"/],
    ['an AWS principal that is a bare name', statement({ Principal: { AWS: 'cc-ingest' } }), /"cc-ingest" is not a principal/],
    ['a wildcard inside a principal ARN', statement({ Principal: { AWS: role('cc-*') } }), /cannot hold wildcards/],
    ['an unknown condition operator', statement({ Condition: { StringEqualz: { 'aws:username': 'a' } } }), /unknown condition operator "StringEqualz"/],
    ['an operator in the wrong case', statement({ Condition: { stringequals: { 'aws:username': 'a' } } }), /unknown condition operator "stringequals"/],
    ['Null with IfExists', statement({ Condition: { NullIfExists: { 'aws:username': 'true' } } }), /unknown condition operator "NullIfExists"/],
    ['Null with a set operator', statement({ Condition: { 'ForAnyValue:Null': { 'aws:TagKeys': 'true' } } }), /unknown condition operator "ForAnyValue:Null"/],
    ['an unknown set operator', statement({ Condition: { 'ForSomeValues:StringEquals': { 'aws:TagKeys': 'a' } } }), /unknown condition operator/],
    ['a condition block that is an array', statement({ Condition: { StringEquals: ['a'] } }), /Condition.StringEquals: must be an object/],
    ['a condition value that is null', statement({ Condition: { Bool: { 'aws:SecureTransport': null } } }), /non-empty strings, numbers or booleans, got null/],
    ['a condition value that is an object', statement({ Condition: { StringEquals: { 'aws:username': { a: 1 } } } }), /non-empty strings, numbers or booleans/],
    ['an empty condition value list', statement({ Condition: { StringEquals: { 'aws:username': [] } } }), /empty list/],
    ['a Null value other than true or false', statement({ Condition: { Null: { 'aws:username': 'yes' } } }), /Null takes "true"/],
    ['an unknown statement element', statement({ Actions: 'kms:Decrypt' }), /unknown element "Actions"/],
  ])('rejects %s', (_name, json, message) => {
    // Act
    const parse = () => parsePolicyDocument(json);

    // Assert
    expect(parse).toThrow(PolicyGrammarError);
    expect(parse).toThrow(message);
  });
});

describe('condition values written as JSON numbers and booleans', () => {
  // IAM compares them as their string forms; CDK's enforceSSL bucket policy writes
  // `"NumericLessThan": {"s3:TlsVersion": 1.2}`, and AWS's own KMS examples write `"Bool": {…: true}`.
  it.each([
    ['a boolean that matches', { Bool: { 'aws:SecureTransport': true } }, { 'aws:SecureTransport': 'true' }, true],
    ['a boolean that does not match', { Bool: { 'aws:SecureTransport': false } }, { 'aws:SecureTransport': 'true' }, false],
    ['a number below the bound', { NumericLessThan: { 's3:TlsVersion': 1.2 } }, { 's3:TlsVersion': '1.0' }, true],
    ['a number at the bound', { NumericLessThan: { 's3:TlsVersion': 1.2 } }, { 's3:TlsVersion': '1.2' }, false],
  ] as const)('evaluates %s', (_name, condition, context, allowed) => {
    expect(holds(condition as never, context)).toBe(allowed);
  });
});

describe('policy kinds', () => {
  it('refuses an identity policy that names a principal', () => {
    // Arrange
    const doc: PolicyDocument = { Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' } };

    // Act
    const evaluate = () => evaluateIdentityPolicies([doc], request());

    // Assert
    expect(evaluate).toThrow(/identity policy cannot have Principal/);
  });

  it('refuses a resource policy statement without Principal or NotPrincipal', () => {
    // Arrange
    const doc: PolicyDocument = { Version: '2012-10-17', Statement: { Effect: 'Allow', Action: '*', Resource: '*' } };

    // Act
    const evaluate = () => evaluateResourcePolicy(doc, request());

    // Assert
    expect(evaluate).toThrow(/needs Principal or NotPrincipal/);
  });

  it('holds documents built in code to the same grammar as parsed ones', () => {
    // Arrange: a typed document can still carry a value the grammar forbids.
    const doc = { Statement: { Effect: 'Allow', Action: 'Decrypt', Resource: '*' } } as PolicyDocument;

    // Act
    const evaluate = () => evaluateIdentityPolicies([doc], request());

    // Assert
    expect(evaluate).toThrow(PolicyGrammarError);
  });
});

// ---------------------------------------------------------------------------------------------

describe('identity policies', () => {
  const allow = (action: string): PolicyDocument => ({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: action, Resource: '*' } });
  const deny = (action: string): PolicyDocument => ({ Version: '2012-10-17', Statement: { Effect: 'Deny', Action: action, Resource: '*' } });

  it('allows when any statement of any policy allows', () => {
    expect(evaluateIdentityPolicies([allow('kms:Encrypt'), allow('kms:Decrypt')], request())).toBe('allow');
  });

  it('lets an explicit Deny in any policy win over an Allow', () => {
    expect(evaluateIdentityPolicies([allow('*'), deny('kms:Decrypt')], request())).toBe('explicit-deny');
  });

  it('denies implicitly when nothing applies', () => {
    expect(evaluateIdentityPolicies([allow('kms:Encrypt')], request())).toBe('implicit-deny');
  });

  it('denies implicitly with no policies at all', () => {
    expect(evaluateIdentityPolicies([], request())).toBe('implicit-deny');
  });
});

describe('actions', () => {
  const withAction = (action: PolicyValue, notAction = false): PolicyDocument => ({
    Version: '2012-10-17',
    Statement: { Effect: 'Allow', ...(notAction ? { NotAction: action } : { Action: action }), Resource: '*' },
  });
  const decide = (doc: PolicyDocument, action: string) => evaluateIdentityPolicies([doc], request({ action }));

  it.each([
    ['kms:Decrypt', 'kms:Decrypt', 'allow'],
    ['KMS:decrypt', 'kms:Decrypt', 'allow'],
    ['kms:Decrypt', 'KMS:DECRYPT', 'allow'],
    ['kms:Generate*', 'kms:GenerateDataKeyWithoutPlaintext', 'allow'],
    ['kms:Generate*', 'kms:Decrypt', 'implicit-deny'],
    ['kms:?ncrypt', 'kms:Encrypt', 'allow'],
    ['kms:?ncrypt', 'kms:ReEncrypt', 'implicit-deny'],
    ['kms:*', 'kms:ScheduleKeyDeletion', 'allow'],
    ['*', 'kms:ScheduleKeyDeletion', 'allow'],
    ['s3:*', 'kms:Decrypt', 'implicit-deny'],
  ])('Action %s against %s gives %s', (pattern, action, expected) => {
    expect(decide(withAction(pattern), action)).toBe(expected);
  });

  it('applies NotAction to every action it does not list', () => {
    // Arrange
    const doc = withAction(['kms:Decrypt', 'kms:Encrypt'], true);

    // Act
    const decisions = [decide(doc, 'kms:Decrypt'), decide(doc, 'kms:DescribeKey')];

    // Assert
    expect(decisions).toEqual(['implicit-deny', 'allow']);
  });
});

describe('resources', () => {
  const withResource = (resource: PolicyValue, notResource = false, version = '2012-10-17'): PolicyDocument => ({
    Version: version,
    Statement: { Effect: 'Allow', Action: '*', ...(notResource ? { NotResource: resource } : { Resource: resource }) },
  });
  const decide = (doc: PolicyDocument, resource: string, context: Record<string, PolicyValue> = {}) =>
    evaluateIdentityPolicies([doc], request({ resource, context }));

  it.each([
    ['*', KEY_ARN, 'allow'],
    [KEY_ARN, KEY_ARN, 'allow'],
    [KEY_ARN.replace('1234abcd', '1234ABCD'), KEY_ARN, 'implicit-deny'],
    [`arn:aws:kms:us-east-1:${ACCOUNT}:key/*`, KEY_ARN, 'allow'],
    [`arn:aws:kms:*:${ACCOUNT}:key/*`, KEY_ARN, 'allow'],
    [`arn:aws:kms:us-east-1:${ACCOUNT}:key/????????-*`, KEY_ARN, 'allow'],
    [`arn:aws:kms:us-east-1:${ACCOUNT}:alias/*`, KEY_ARN, 'implicit-deny'],
    [`arn:aws:kms:us-east-1:${OTHER_ACCOUNT}:key/*`, KEY_ARN, 'implicit-deny'],
  ])('Resource %s against %s gives %s', (pattern, resource, expected) => {
    expect(decide(withResource(pattern), resource)).toBe(expected);
  });

  it('applies NotResource to every resource it does not list', () => {
    // Arrange
    const doc = withResource(KEY_ARN, true);

    // Act
    const decisions = [decide(doc, KEY_ARN), decide(doc, `arn:aws:kms:us-east-1:${ACCOUNT}:key/other`)];

    // Assert
    expect(decisions).toEqual(['implicit-deny', 'allow']);
  });

  it('substitutes policy variables in Resource', () => {
    // Arrange
    const doc = withResource(`arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:username}`);
    const aliceKey = `arn:aws:kms:us-east-1:${ACCOUNT}:key/alice`;

    // Act
    const decisions = [decide(doc, aliceKey, { 'aws:username': 'alice' }), decide(doc, aliceKey, { 'aws:username': 'bob' })];

    // Assert
    expect(decisions).toEqual(['allow', 'implicit-deny']);
  });

  it('keeps a substituted value literal, so a * in it is no wildcard', () => {
    // Arrange
    const doc = withResource(`arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:username}`);

    // Act
    const decision = decide(doc, `arn:aws:kms:us-east-1:${ACCOUNT}:key/anything`, { 'aws:username': '*' });

    // Assert
    expect(decision).toBe('implicit-deny');
  });

  it('lets an unresolvable variable in Resource match nothing', () => {
    // Arrange
    const doc = withResource(`arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:username}`);

    // Act
    const decision = decide(doc, `arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:username}`);

    // Assert
    expect(decision).toBe('implicit-deny');
  });

  it('lets NotResource apply when its only variable cannot be resolved (the resource is not like a null value)', () => {
    // Arrange
    const doc = withResource(`arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:username}`, true);

    // Act
    const decision = decide(doc, KEY_ARN);

    // Assert
    expect(decision).toBe('allow');
  });

  it('treats ${...} as plain text before policy language 2012-10-17', () => {
    // Arrange
    const pattern = `arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:username}`;
    const doc = withResource(pattern, false, '2008-10-17');

    // Act
    const decisions = [decide(doc, pattern, { 'aws:username': 'alice' }), decide(doc, `arn:aws:kms:us-east-1:${ACCOUNT}:key/alice`, { 'aws:username': 'alice' })];

    // Assert
    expect(decisions).toEqual(['allow', 'implicit-deny']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('principals', () => {
  const keyPolicy = (principal: PolicyStatement['Principal'], effect: 'Allow' | 'Deny' = 'Allow'): PolicyDocument => ({
    Version: '2012-10-17',
    Statement: { Effect: effect, Principal: principal, Action: '*', Resource: '*' },
  });
  const decide = (doc: PolicyDocument, who: Who = INGEST) => evaluateResourcePolicy(doc, request({ who }));

  it.each([
    ['"*"', '*' as const],
    ['{"AWS": "*"}', { AWS: '*' }],
    ['the role ARN', { AWS: ROLES.ingest }],
    ['the role ARN among others', { AWS: [ROLES.steward, ROLES.ingest] }],
    ['the session ARN', { AWS: session('cc-ingest') }],
  ])('allows the caller directly when Principal is %s', (_name, principal) => {
    expect(decide(keyPolicy(principal))).toEqual({ decision: 'allow', allowedDirectly: true, allowedViaAccount: false });
  });

  it('matches a role ARN for the role identity without a session', () => {
    // Arrange
    const who: Who = { arn: ROLES.ingest, accountId: ACCOUNT };

    // Act
    const result = decide(keyPolicy({ AWS: ROLES.ingest }), who);

    // Assert
    expect(result.allowedDirectly).toBe(true);
  });

  it('matches a role ARN with a path to the sessions of that role', () => {
    // Arrange: the caller gives its session only; the policy names the role with its path.
    const who: Who = { arn: 'arn:aws:iam::111122223333:role/service-role/cc-ingest', sessionArn: session('cc-ingest'), accountId: ACCOUNT };

    // Act
    const result = decide(keyPolicy({ AWS: 'arn:aws:iam::111122223333:role/service-role/cc-ingest' }), who);

    // Assert
    expect(result.allowedDirectly).toBe(true);
  });

  it('does not match another role, or another session of the same role', () => {
    // Arrange
    const otherSession = `arn:aws:sts::${ACCOUNT}:assumed-role/cc-ingest/someone-else`;

    // Act
    const results = [decide(keyPolicy({ AWS: ROLES.steward })), decide(keyPolicy({ AWS: otherSession }))];

    // Assert
    expect(results.map((r) => r.decision)).toEqual(['implicit-deny', 'implicit-deny']);
  });

  it.each([
    ['the account id', { AWS: ACCOUNT }],
    ['the account root', { AWS: `arn:aws:iam::${ACCOUNT}:root` }],
  ])('delegates to IAM when Principal is %s', (_name, principal) => {
    expect(decide(keyPolicy(principal))).toEqual({ decision: 'allow', allowedDirectly: false, allowedViaAccount: true });
  });

  it('reports both ways when a direct and an account statement apply', () => {
    // Arrange
    const doc: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: '*', Resource: '*' },
        { Effect: 'Allow', Principal: { AWS: ROLES.ingest }, Action: '*', Resource: '*' },
      ],
    };

    // Act
    const result = decide(doc);

    // Assert
    expect(result).toEqual({ decision: 'allow', allowedDirectly: true, allowedViaAccount: true });
  });

  it('does not match another account, a service or a federated principal', () => {
    // Arrange
    const principals: Readonly<Record<string, string>>[] = [{ AWS: OTHER_ACCOUNT }, { Service: 'kms.amazonaws.com' }, { Federated: 'cognito-identity.amazonaws.com' }];

    // Act
    const decisions = principals.map((p) => decide(keyPolicy(p)).decision);

    // Assert
    expect(decisions).toEqual(['implicit-deny', 'implicit-deny', 'implicit-deny']);
  });

  it('denies every principal of an account a Deny names, even over a direct Allow', () => {
    // Arrange
    const doc: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: ROLES.ingest }, Action: '*', Resource: '*' },
        { Effect: 'Deny', Principal: { AWS: ACCOUNT }, Action: 'kms:Decrypt', Resource: '*' },
      ],
    };

    // Act
    const result = decide(doc);

    // Assert
    expect(result).toEqual({ decision: 'explicit-deny', allowedDirectly: false, allowedViaAccount: false });
  });

  describe('NotPrincipal (Deny only)', () => {
    const denyAllBut = (ids: string[] | '*'): PolicyDocument => ({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' },
        { Effect: 'Deny', NotPrincipal: ids === '*' ? '*' : { AWS: ids }, Action: '*', Resource: '*' },
      ],
    });

    it('denies everyone it does not list', () => {
      expect(decide(denyAllBut([ROLES.steward, ACCOUNT])).decision).toBe('explicit-deny');
    });

    it('exempts a caller whose account and role are both listed', () => {
      expect(decide(denyAllBut([ROLES.ingest, `arn:aws:iam::${ACCOUNT}:root`])).decision).toBe('allow');
    });

    it('exempts a caller whose account and session are both listed', () => {
      expect(decide(denyAllBut([session('cc-ingest'), ACCOUNT])).decision).toBe('allow');
    });

    it('still denies a listed role whose account is not listed, as AWS documents', () => {
      expect(decide(denyAllBut([ROLES.ingest])).decision).toBe('explicit-deny');
    });

    it('still denies a role whose account alone is listed', () => {
      expect(decide(denyAllBut([ACCOUNT])).decision).toBe('explicit-deny');
    });

    it('exempts everyone when it is "*"', () => {
      expect(decide(denyAllBut('*')).decision).toBe('allow');
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('condition logic', () => {
  it('needs every operator to hold (AND)', () => {
    // Arrange
    const condition = { StringEquals: { 'aws:username': 'alice' }, Bool: { 'aws:SecureTransport': 'true' } };

    // Act
    const results = [
      holds(condition, { 'aws:username': 'alice', 'aws:SecureTransport': 'true' }),
      holds(condition, { 'aws:username': 'alice', 'aws:SecureTransport': 'false' }),
    ];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('needs every key of an operator to hold (AND)', () => {
    // Arrange
    const condition = { StringEquals: { 'aws:username': 'alice', 'aws:PrincipalTag/team': 'hr' } };

    // Act
    const results = [
      holds(condition, { 'aws:username': 'alice', 'aws:PrincipalTag/team': 'hr' }),
      holds(condition, { 'aws:username': 'alice', 'aws:PrincipalTag/team': 'eng' }),
    ];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('needs any one value of a key (OR)', () => {
    const condition = { StringEquals: { 'aws:username': ['alice', 'bob'] } };
    expect([holds(condition, { 'aws:username': 'bob' }), holds(condition, { 'aws:username': 'carol' })]).toEqual([true, false]);
  });

  it('needs a negated operator to match none of the values (NOR)', () => {
    const condition = { StringNotEquals: { 'aws:username': ['alice', 'bob'] } };
    expect([holds(condition, { 'aws:username': 'bob' }), holds(condition, { 'aws:username': 'carol' })]).toEqual([false, true]);
  });

  it('matches condition key names whatever their case, in the policy or the context', () => {
    // Arrange
    const condition = { DateGreaterThan: { 'AWS:CurrentTime': '2026-01-01T00:00:00Z' } };

    // Act
    const result = holds(condition, { 'aws:currenttime': '2026-06-01T00:00:00Z' });

    // Assert
    expect(result).toBe(true);
  });

  it('matches the part of kms:EncryptionContext:<key> after the last colon case-insensitively, and its value case-sensitively', () => {
    // Arrange
    const condition = { StringEquals: { 'kms:EncryptionContext:EmployeeID': 'e-42' } };

    // Act
    const results = [
      holds(condition, { 'kms:EncryptionContext:employeeId': 'e-42' }),
      holds(condition, { 'kms:EncryptionContext:employeeId': 'E-42' }),
    ];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('makes context keys that differ only in case a multivalued key, so a single-value operator fails closed', () => {
    // Arrange: two encryption context pairs KMS would accept, differing only in key case.
    const context = { 'kms:EncryptionContext:scope': 'clicks', 'kms:EncryptionContext:Scope': 'keystrokes' };

    // Act
    const result = holds({ StringEquals: { 'kms:EncryptionContext:scope': 'clicks' } }, context);

    // Assert
    expect(result).toBe(false);
  });
});

describe('string operators', () => {
  it.each([
    ['StringEquals', 'alice', 'alice', true],
    ['StringEquals', 'alice', 'Alice', false],
    ['StringEquals', 'al*', 'alice', false],
    ['StringNotEquals', 'alice', 'bob', true],
    ['StringNotEquals', 'alice', 'alice', false],
    ['StringEqualsIgnoreCase', 'ALICE', 'alice', true],
    ['StringNotEqualsIgnoreCase', 'ALICE', 'alice', false],
    ['StringLike', 'al*', 'alice', true],
    ['StringLike', 'a?ice', 'alice', true],
    ['StringLike', 'a?ice', 'aliice', false],
    ['StringLike', '*', '', true],
    ['StringLike', 'Al*', 'alice', false],
    ['StringNotLike', 'al*', 'alice', false],
    ['StringNotLike', 'bo*', 'alice', true],
  ])('%s %j against %j is %s', (operator, value, actual, expected) => {
    expect(holds({ [operator]: { 'aws:username': value } }, { 'aws:username': actual })).toBe(expected);
  });
});

describe('numeric operators', () => {
  it.each([
    ['NumericEquals', '300', '300', true],
    ['NumericEquals', '300', '300.0', true],
    ['NumericNotEquals', '300', '299', true],
    ['NumericLessThan', '300', '299', true],
    ['NumericLessThan', '300', '300', false],
    ['NumericLessThanEquals', '300', '300', true],
    ['NumericGreaterThan', '300', '301', true],
    ['NumericGreaterThanEquals', '1.5', '1.5', true],
    ['NumericGreaterThan', '-1', '0', true],
    ['NumericLessThan', '300', '10.1.2.3', false],
    ['NumericEquals', 'abc', 'abc', false],
  ])('%s %j against %j is %s', (operator, value, actual, expected) => {
    expect(holds({ [operator]: { 'aws:MultiFactorAuthAge': value } }, { 'aws:MultiFactorAuthAge': actual })).toBe(expected);
  });

  it('lets a value that is no number match nothing, so its negation holds', () => {
    expect(holds({ NumericNotEquals: { 'aws:MultiFactorAuthAge': 'abc' } }, { 'aws:MultiFactorAuthAge': '300' })).toBe(true);
  });
});

describe('date operators', () => {
  it.each([
    ['DateEquals', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z', true],
    ['DateEquals', '2026-01-01T02:00:00+02:00', '2026-01-01T00:00:00Z', true],
    ['DateEquals', '2026-01-01', '2026-01-01T00:00:00Z', true],
    ['DateEquals', '1767225600', '2026-01-01T00:00:00Z', true],
    ['DateNotEquals', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', true],
    ['DateLessThan', '2026-01-01T00:00:00Z', '2025-12-31T23:59:59Z', true],
    ['DateLessThan', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', false],
    ['DateLessThanEquals', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', true],
    ['DateGreaterThan', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00.001Z', true],
    ['DateGreaterThanEquals', '1767225600', '1767225600', true],
    ['DateLessThan', 'not-a-date', '2025-01-01T00:00:00Z', false],
    ['DateLessThan', '2026-01-01T00:00:00Z', 'yesterday', false],
  ])('%s %j against %j is %s', (operator, value, actual, expected) => {
    expect(holds({ [operator]: { 'aws:CurrentTime': value } }, { 'aws:CurrentTime': actual })).toBe(expected);
  });

  it('lets a value that is no date match nothing, so DateNotEquals holds', () => {
    expect(holds({ DateNotEquals: { 'aws:CurrentTime': 'not-a-date' } }, { 'aws:CurrentTime': '2026-01-01T00:00:00Z' })).toBe(true);
  });

  it.each(['2026-02-30', '2026-13-01', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00+25:00', 'March 7, 2026', '1.5'])('rejects %j as a date', (text) => {
    expect(parseDate(text)).toBeUndefined();
  });

  it('reads epoch seconds, not milliseconds', () => {
    expect(parseDate('1767225600')).toBe(Date.UTC(2026, 0, 1));
  });

  it('reads years before 100 literally', () => {
    expect(parseDate('0050-01-01T00:00:00Z')).toBe(new Date('0050-01-01T00:00:00Z').getTime());
  });
});

describe('Bool and BinaryEquals', () => {
  it.each([
    ['true', 'true', true],
    ['TRUE', 'true', true],
    ['false', 'False', true],
    ['true', 'false', false],
    ['maybe', 'maybe', false],
    ['true', 'yes', false],
  ])('Bool %j against %j is %s', (value, actual, expected) => {
    expect(holds({ Bool: { 'aws:SecureTransport': value } }, { 'aws:SecureTransport': actual })).toBe(expected);
  });

  it('compares base64 values exactly', () => {
    const condition = { BinaryEquals: { 'kms:EncryptionContext:blob': 'QUJD' } };
    expect([holds(condition, { 'kms:EncryptionContext:blob': 'QUJD' }), holds(condition, { 'kms:EncryptionContext:blob': 'qujd' })]).toEqual([true, false]);
  });
});

describe('IP address operators', () => {
  it.each([
    ['10.0.0.0/8', '10.200.0.1', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.1.2.3', '10.1.2.3', true],
    ['10.1.2.3/32', '10.1.2.4', false],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['192.168.0.0/16', '192.168.255.255', true],
    ['2001:db8::/32', '2001:db8::5', true],
    ['2001:db8::/32', '2001:db9::5', false],
    ['::1', '0:0:0:0:0:0:0:1', true],
    ['::ffff:10.0.0.0/104', '::ffff:10.1.2.3', true],
    ['10.0.0.0/8', '2001:db8::5', false],
    ['10.0.0.0/33', '10.0.0.1', false],
    ['bad-ip', '10.0.0.1', false],
    ['10.0.0.0/8', 'garbage', false],
    ['010.0.0.0/8', '10.0.0.1', false],
  ])('IpAddress %j against %j is %s', (value, actual, expected) => {
    expect(holds({ IpAddress: { 'aws:SourceIp': value } }, { 'aws:SourceIp': actual })).toBe(expected);
  });

  it('holds NotIpAddress for an address outside every block, including another family', () => {
    // Arrange
    const condition = { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '10.1.2.3'] } };

    // Act
    const results = [
      holds(condition, { 'aws:SourceIp': '10.1.2.3' }),
      holds(condition, { 'aws:SourceIp': '192.168.1.1' }),
      holds(condition, { 'aws:SourceIp': '2001:db8::5' }),
    ];

    // Assert
    expect(results).toEqual([false, true, true]);
  });
});

describe('ARN operators', () => {
  it.each([
    ['ArnEquals', ROLES.ingest, ROLES.ingest, true],
    ['ArnEquals', `arn:aws:iam::${ACCOUNT}:role/*`, ROLES.ingest, true],
    ['ArnLike', 'arn:aws:iam::*:role/cc-?ngest', role('cc-ingest', OTHER_ACCOUNT), true],
    ['ArnLike', `arn:aws:iam::${ACCOUNT}:role/CC-INGEST`, ROLES.ingest, false],
    ['ArnLike', 'arn:aws:iam::*', ROLES.ingest, false],
    ['ArnLike', 'arn:*:iam::111122223333:*', ROLES.ingest, true],
    ['ArnLike', 'arn:aws:iam:*:role/cc-ingest', ROLES.ingest, false],
    ['ArnLike', 'not-an-arn', 'not-an-arn', false],
    ['ArnNotEquals', ROLES.steward, ROLES.ingest, true],
    ['ArnNotLike', `arn:aws:iam::${ACCOUNT}:role/*`, ROLES.ingest, false],
  ])('%s %j against %j is %s', (operator, value, actual, expected) => {
    expect(holds({ [operator]: { 'aws:PrincipalArn': value } }, { 'aws:PrincipalArn': actual })).toBe(expected);
  });

  it('matches each of the six components separately, so a wildcard does not cross a colon', () => {
    // Arrange: "*" in the region would have to swallow ":111122223333" to match.
    const condition = { ArnLike: { 'aws:SourceArn': 'arn:aws:kms:*:key/x' } };

    // Act
    const result = holds(condition, { 'aws:SourceArn': `arn:aws:kms:us-east-1:${ACCOUNT}:key/x` });

    // Assert
    expect(result).toBe(false);
  });

  it('substitutes a variable before splitting, so a whole ARN can come from the context', () => {
    // Arrange
    const condition = { ArnEquals: { 'aws:SourceArn': '${aws:PrincipalArn}' }, ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::${aws:PrincipalAccount}:role/*' } };

    // Act
    const result = holds(condition, { 'aws:SourceArn': ROLES.ingest, 'aws:PrincipalArn': ROLES.ingest, 'aws:PrincipalAccount': ACCOUNT });

    // Assert
    expect(result).toBe(true);
  });
});

describe('Null', () => {
  it.each([
    ['true', {}, true],
    ['true', { 'aws:username': 'alice' }, false],
    ['false', { 'aws:username': 'alice' }, true],
    ['false', {}, false],
  ])('Null %j with context %j is %s', (value, context, expected) => {
    expect(holds({ Null: { 'aws:username': value } }, context)).toBe(expected);
  });

  it('counts a multivalued key with no values as absent', () => {
    expect([holds({ Null: { 'aws:TagKeys': 'true' } }, { 'aws:TagKeys': [] }), holds({ Null: { 'aws:TagKeys': 'false' } }, { 'aws:TagKeys': [] })]).toEqual([true, false]);
  });
});

describe('missing keys and IfExists', () => {
  it('fails a plain operator on a missing key', () => {
    expect(holds({ StringEquals: { 'aws:username': 'alice' } }, {})).toBe(false);
  });

  it.each(['StringNotEquals', 'StringNotLike', 'NumericNotEquals', 'DateNotEquals', 'NotIpAddress', 'ArnNotLike', 'StringNotEqualsIgnoreCase', 'ArnNotEquals'])(
    'holds negated %s on a missing key',
    (operator) => {
      expect(holds({ [operator]: { 'aws:username': 'x' } }, {})).toBe(true);
    },
  );

  it('holds ...IfExists on a missing key and checks it when present', () => {
    // Arrange
    const condition = { StringEqualsIfExists: { 'aws:username': 'alice' } };

    // Act
    const results = [holds(condition, {}), holds(condition, { 'aws:username': 'alice' }), holds(condition, { 'aws:username': 'bob' })];

    // Assert
    expect(results).toEqual([true, true, false]);
  });

  it('holds IfExists on every family', () => {
    // Arrange
    const operators = ['NumericLessThanIfExists', 'DateLessThanIfExists', 'BoolIfExists', 'BinaryEqualsIfExists', 'IpAddressIfExists', 'ArnLikeIfExists'];

    // Act
    const results = operators.map((op) => holds({ [op]: { 'aws:absent': 'x' } }, {}));

    // Assert
    expect(results.every(Boolean)).toBe(true);
  });
});

describe('set operators', () => {
  const keys = (values: string[]) => ({ 'kms:EncryptionContextKeys': values });

  it('holds ForAllValues when every request value matches some policy value', () => {
    const condition = { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['employeeId', 'scope', 'batchId'] } };
    expect([holds(condition, keys(['scope', 'employeeId'])), holds(condition, keys(['scope', 'deviceId']))]).toEqual([true, false]);
  });

  it('holds ForAllValues on a missing or empty key', () => {
    const condition = { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': 'scope' } };
    expect([holds(condition, {}), holds(condition, keys([]))]).toEqual([true, true]);
  });

  it('holds ForAnyValue when some request value matches', () => {
    const condition = { 'ForAnyValue:StringLike': { 'kms:EncryptionContextKeys': 'emp*' } };
    expect([holds(condition, keys(['scope', 'employeeId'])), holds(condition, keys(['scope']))]).toEqual([true, false]);
  });

  it('fails ForAnyValue on a missing or empty key', () => {
    const condition = { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'scope' } };
    expect([holds(condition, {}), holds(condition, keys([]))]).toEqual([false, false]);
  });

  it('holds ForAnyValue...IfExists on a missing key, as IfExists says', () => {
    expect(holds({ 'ForAnyValue:StringEqualsIfExists': { 'kms:EncryptionContextKeys': 'scope' } }, {})).toBe(true);
  });

  it('applies a negated operator per request value under ForAllValues', () => {
    // Arrange: "no request value starts with key1" (AWS's documented example).
    const condition = { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } };

    // Act
    const results = [holds(condition, { 'aws:TagKeys': ['key2:audit'] }), holds(condition, { 'aws:TagKeys': ['key1:legal', 'key2:x'] })];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('treats a single-valued key as a one-value set', () => {
    expect(holds({ 'ForAnyValue:StringEquals': { 'aws:username': ['alice', 'bob'] } }, { 'aws:username': 'bob' })).toBe(true);
  });

  it.each([
    ['StringEquals', true],
    ['StringNotEquals', true],
    ['StringEqualsIfExists', true],
  ])('fails plain %s on a multivalued key, which needs a set operator', (operator) => {
    expect(holds({ [operator]: { 'kms:EncryptionContextKeys': 'scope' } }, keys(['scope']))).toBe(false);
  });
});

describe('policy variables in conditions', () => {
  it('substitutes a single-valued key', () => {
    // Arrange
    const condition = { StringEquals: { 'kms:EncryptionContext:owner': '${aws:username}' } };

    // Act
    const results = [
      holds(condition, { 'kms:EncryptionContext:owner': 'alice', 'aws:username': 'alice' }),
      holds(condition, { 'kms:EncryptionContext:owner': 'alice', 'aws:username': 'bob' }),
    ];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('uses the default value when the key is missing', () => {
    expect(holds({ StringEquals: { 'aws:username': "${aws:PrincipalTag/owner, 'alice'}" } }, { 'aws:username': 'alice' })).toBe(true);
  });

  it('cannot substitute a multivalued key', () => {
    expect(holds({ StringLike: { 'aws:username': '${aws:TagKeys}' } }, { 'aws:username': 'a', 'aws:TagKeys': ['a'] })).toBe(false);
  });

  it('lets an unresolvable variable match nothing, so its negation holds (AWS: a null value)', () => {
    // Arrange
    const positive = { StringEquals: { 'aws:username': '${aws:PrincipalTag/owner}' } };
    const negated = { StringNotEquals: { 'aws:username': '${aws:PrincipalTag/owner}' } };

    // Act
    const results = [holds(positive, { 'aws:username': 'alice' }), holds(negated, { 'aws:username': 'alice' })];

    // Assert
    expect(results).toEqual([false, true]);
  });

  it('reads ${*}, ${?} and ${$} as literal characters', () => {
    // Arrange
    const condition = { StringLike: { 'aws:username': 'a${*}${?}${$}*' } };

    // Act
    const results = [holds(condition, { 'aws:username': 'a*?$tail' }), holds(condition, { 'aws:username': 'abc$tail' })];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('reads the escapes in StringEquals too', () => {
    expect(holds({ StringEquals: { 'aws:username': 'x${$}y${*}' } }, { 'aws:username': 'x$y*' })).toBe(true);
  });

  it('leaves ${...} literal under Version 2008-10-17', () => {
    // Arrange
    const condition = { StringEquals: { 'aws:username': '${aws:PrincipalTag/team}' } };

    // Act
    const results = [
      holds(condition, { 'aws:username': 'hr', 'aws:PrincipalTag/team': 'hr' }, '2008-10-17'),
      holds(condition, { 'aws:username': '${aws:PrincipalTag/team}' }, '2008-10-17'),
    ];

    // Assert
    expect(results).toEqual([false, true]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('the key policies our builder emits', () => {
  const NOW = '2026-03-01T12:00:00.000Z';
  const UNTIL = '2026-03-01T13:00:00.000Z';
  const ADMIN_POLICY: PolicyDocument = { Version: '2012-10-17', Statement: [{ Sid: 'AdministratorAccess', Effect: 'Allow', Action: '*', Resource: '*' }] };

  const policy = (state: Partial<KeyPolicyState>): PolicyDocument =>
    parsePolicyDocument(JSON.stringify(buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['clicks', 'keystrokes'], ...state } as KeyPolicyState, ROLES)));

  function ingestAsks(options: { context?: Record<string, string>; now?: string; action?: string; who?: Who } = {}): EvaluationRequest {
    const ec = options.context ?? { employeeId: 'e-42', scope: 'clicks', batchId: 'b-1' };
    const context: Record<string, PolicyValue> = { 'aws:CurrentTime': options.now ?? NOW, 'aws:PrincipalArn': (options.who ?? INGEST).arn };
    for (const [k, v] of Object.entries(ec)) context[`kms:EncryptionContext:${k}`] = v;
    if (Object.keys(ec).length > 0) context['kms:EncryptionContextKeys'] = Object.keys(ec);
    return request({ who: options.who ?? INGEST, action: options.action ?? 'kms:GenerateDataKey', context });
  }

  describe('while consent is active', () => {
    it('lets the ingest role generate a data key for this employee and a consented scope', () => {
      expect(evaluateResourcePolicy(policy({}), ingestAsks())).toEqual({ decision: 'allow', allowedDirectly: true, allowedViaAccount: false });
    });

    it.each([
      ['another employee', { employeeId: 'e-7', scope: 'clicks', batchId: 'b-1' }],
      ['the employee id in another case', { employeeId: 'E-42', scope: 'clicks', batchId: 'b-1' }],
      ['a scope not consented to', { employeeId: 'e-42', scope: 'app-focus', batchId: 'b-1' }],
      ['a context key in the wrong case', { EmployeeId: 'e-42', scope: 'clicks', batchId: 'b-1' }],
      ['an extra context key', { employeeId: 'e-42', scope: 'clicks', batchId: 'b-1', deviceId: 'd-1' }],
      ['no scope', { employeeId: 'e-42', batchId: 'b-1' }],
      ['no encryption context', {}],
    ])('denies implicitly with %s', (_name, context) => {
      expect(evaluateResourcePolicy(policy({}), ingestAsks({ context })).decision).toBe('implicit-deny');
    });

    it.each(['consent', 'steward', 'export', 'purge', 'auditor', 'admin'])('never lets the %s role generate a data key', (name) => {
      expect(evaluateResourcePolicy(policy({}), ingestAsks({ who: asRole(`cc-${name}`) })).decision).toBe('implicit-deny');
    });

    it('gives no one Decrypt through the key policy: exports decrypt only through grants', () => {
      // Arrange
      const callers = ['ingest', 'consent', 'export', 'purge', 'auditor'].map((n) => asRole(`cc-${n}`));

      // Act
      const decisions = callers.map((who) => evaluateResourcePolicy(policy({}), ingestAsks({ who, action: 'kms:Decrypt' })).decision);

      // Assert
      expect(new Set(decisions)).toEqual(new Set(['implicit-deny']));
    });

    it('lets the auditor describe the key but not use it', () => {
      // Arrange
      const auditor = asRole('cc-auditor');

      // Act
      const decisions = ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:Encrypt'].map(
        (action) => evaluateResourcePolicy(policy({}), ingestAsks({ who: auditor, action })).decision,
      );

      // Assert
      expect(decisions).toEqual(['allow', 'allow', 'implicit-deny']);
    });
  });

  describe('while consent is paused', () => {
    const paused = () => policy({ status: 'paused', pausedUntil: UNTIL });

    it('explicitly denies data keys before pausedUntil', () => {
      expect(evaluateResourcePolicy(paused(), ingestAsks()).decision).toBe('explicit-deny');
    });

    it('explicitly denies GenerateDataKeyWithoutPlaintext too', () => {
      expect(evaluateResourcePolicy(paused(), ingestAsks({ action: 'kms:GenerateDataKeyWithoutPlaintext' })).decision).toBe('explicit-deny');
    });

    it('allows again from pausedUntil on, inside KMS, with no policy change', () => {
      // Act
      const decisions = [UNTIL, '2026-03-01T13:00:00.001Z'].map((now) => evaluateResourcePolicy(paused(), ingestAsks({ now })).decision);

      // Assert
      expect(decisions).toEqual(['allow', 'allow']);
    });

    it('still lets the steward role manage the key', () => {
      expect(evaluateResourcePolicy(paused(), ingestAsks({ who: asRole('cc-steward'), action: 'kms:PutKeyPolicy' })).decision).toBe('allow');
    });
  });

  describe('after withdrawal', () => {
    it.each(['revoked', 'none'] as const)('gives ingest nothing when %s', (status) => {
      expect(evaluateResourcePolicy(policy({ status, scopes: [] }), ingestAsks()).decision).toBe('implicit-deny');
    });

    it('lets the purge role disable and schedule deletion of a shredded key tagged for erasure, and nobody use it', () => {
      // Arrange
      const shredded = parsePolicyDocument(JSON.stringify(buildShreddedKeyPolicy('e-42', ROLES)));
      const purge = asRole('cc-purge');
      const tagged = (action: string, who = purge) => request({ who, action, context: { 'aws:ResourceTag/erasure': 'requested' } });

      // Act
      const decisions = [
        evaluateResourcePolicy(shredded, tagged('kms:DisableKey')).decision,
        evaluateResourcePolicy(shredded, tagged('kms:ScheduleKeyDeletion')).decision,
        evaluateResourcePolicy(shredded, ingestAsks()).decision,
        evaluateResourcePolicy(shredded, tagged('kms:CreateGrant', asRole('cc-steward'))).decision,
      ];

      // Assert
      expect(decisions).toEqual(['allow', 'allow', 'implicit-deny', 'implicit-deny']);
    });
  });

  describe('shredding needs the erasure tag', () => {
    const purge = asRole('cc-purge');
    const ask = (action: string, tags: Record<string, string>) => {
      const context: Record<string, PolicyValue> = {};
      for (const [k, v] of Object.entries(tags)) context[`aws:ResourceTag/${k}`] = v;
      return request({ who: purge, action, context });
    };

    it.each(['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:DescribeKey'])('denies the purge role %s on an active key without the tag', (action) => {
      expect(evaluateResourcePolicy(policy({}), ask(action, { app: 'consent-capture' })).decision).toBe('implicit-deny');
    });

    it.each([
      ['another value', { erasure: 'pending' }],
      ['the value in another case', { erasure: 'Requested' }],
      ['the key in another case, as another tag', { Erasure: 'no' }],
    ])('denies with %s', (_name, tags) => {
      expect(evaluateResourcePolicy(policy({}), ask('kms:DisableKey', tags)).decision).toBe('implicit-deny');
    });

    it.each(['kms:DisableKey', 'kms:ScheduleKeyDeletion'])('allows the purge role %s once the key is tagged erasure=requested', (action) => {
      expect(evaluateResourcePolicy(policy({}), ask(action, { app: 'consent-capture', erasure: 'requested' })).decision).toBe('allow');
    });

    it('reads the tag key case-insensitively, as IAM reads condition key names', () => {
      expect(evaluateResourcePolicy(policy({}), ask('kms:DisableKey', { Erasure: 'requested' })).decision).toBe('allow');
    });
  });

  describe('the erasure tag', () => {
    const steward = asRole('cc-steward');
    const tagRequest = (tags: Record<string, string>, who: Who = steward, action = 'kms:TagResource') => {
      const context: Record<string, PolicyValue> = { 'aws:TagKeys': Object.keys(tags) };
      for (const [k, v] of Object.entries(tags)) context[`aws:RequestTag/${k}`] = v;
      return request({ who, action, context });
    };

    it('lets the steward role set erasure=requested', () => {
      expect(evaluateResourcePolicy(policy({}), tagRequest({ erasure: 'requested' })).decision).toBe('allow');
    });

    it.each([
      ['another value', { erasure: 'no' }],
      ['another tag beside it', { erasure: 'requested', app: 'x' }],
      ['another tag alone', { app: 'consent-capture' }],
    ])('refuses the steward role %s', (_name, tags) => {
      expect(evaluateResourcePolicy(policy({}), tagRequest(tags)).decision).toBe('implicit-deny');
    });

    it.each(['purge', 'ingest', 'export', 'auditor', 'admin'])('refuses the %s role the erasure tag', (name) => {
      expect(evaluateResourcePolicy(policy({}), tagRequest({ erasure: 'requested' }, asRole(`cc-${name}`))).decision).toBe('implicit-deny');
    });

    it('lets nobody untag', () => {
      const untag = (who: Who) => evaluateResourcePolicy(policy({}), request({ who, action: 'kms:UntagResource', context: { 'aws:TagKeys': ['erasure'] } })).decision;

      expect(['consent', 'steward', 'purge', 'ingest', 'export', 'auditor'].map((n) => untag(asRole(`cc-${n}`)))).toEqual(Array(6).fill('implicit-deny'));
    });
  });

  describe('an administrator', () => {
    it('is allowed by its identity policy but gets an implicit deny from the key policy, which names no account root', () => {
      // Arrange
      const admin = asRole('cc-admin');
      const ask = ingestAsks({ who: admin, action: 'kms:Decrypt' });

      // Act
      const identity = evaluateIdentityPolicies([ADMIN_POLICY], ask);
      const key = evaluateResourcePolicy(policy({}), ask);

      // Assert
      expect(identity).toBe('allow');
      expect(key).toEqual({ decision: 'implicit-deny', allowedDirectly: false, allowedViaAccount: false });
    });
  });

  describe('export grants', () => {
    const grantRequest = (context: Record<string, PolicyValue>): EvaluationRequest =>
      request({ who: asRole('cc-steward'), action: 'kms:CreateGrant', context });
    const decide = (context: Record<string, PolicyValue>) => evaluateResourcePolicy(policy({}), grantRequest(context)).decision;
    const good: Record<string, PolicyValue> = {
      'kms:GrantOperations': ['Decrypt'],
      'kms:GranteePrincipal': ROLES.export,
      'kms:RetiringPrincipal': ROLES.export,
      'kms:GrantIsForAWSResource': 'false',
      'kms:GrantConstraintType': 'EncryptionContextSubset',
      'kms:EncryptionContext:employeeId': 'e-42',
      'kms:EncryptionContextKeys': ['employeeId'],
    };
    const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));

    it('lets the steward role grant Decrypt to the export role, constrained to this employee', () => {
      expect(decide(good)).toBe('allow');
    });

    it('allows a narrower constraint that also names a scope', () => {
      expect(decide({ ...good, 'kms:EncryptionContext:scope': 'clicks', 'kms:EncryptionContextKeys': ['employeeId', 'scope'] })).toBe('allow');
    });

    it.each([
      ['another operation', { ...good, 'kms:GrantOperations': ['Decrypt', 'Encrypt'] }],
      ['another grantee', { ...good, 'kms:GranteePrincipal': ROLES.ingest }],
      ['a grant for an AWS resource', { ...good, 'kms:GrantIsForAWSResource': 'true' }],
      ['kms:GrantIsForAWSResource missing', without('kms:GrantIsForAWSResource')],
      ['no constraint', without('kms:GrantConstraintType')],
      ['an EncryptionContextEquals constraint', { ...good, 'kms:GrantConstraintType': 'EncryptionContextEquals' }],
      ['a constraint on another employee', { ...good, 'kms:EncryptionContext:employeeId': 'e-7' }],
      ['a constraint without the employee', without('kms:EncryptionContext:employeeId')],
      ['no retiring principal', without('kms:RetiringPrincipal')],
      ['another retiring principal', { ...good, 'kms:RetiringPrincipal': ROLES.steward }],
    ])('refuses a grant with %s', (_name, context) => {
      expect(decide(context)).toBe('implicit-deny');
    });

    it('refuses every grant when consent is none (nothing captured, nothing to export)', () => {
      expect(evaluateResourcePolicy(policy({ status: 'none', scopes: [] }), grantRequest(good)).decision).toBe('implicit-deny');
    });

    it('still allows the constrained export grant once consent is revoked, and only that one', () => {
      const revoked = policy({ status: 'revoked', scopes: [] });
      expect(evaluateResourcePolicy(revoked, grantRequest(good)).decision).toBe('allow');
      expect(evaluateResourcePolicy(revoked, grantRequest(without('kms:GrantConstraintType'))).decision).toBe('implicit-deny');
      expect(evaluateResourcePolicy(revoked, grantRequest({ ...good, 'kms:EncryptionContext:employeeId': 'e-7' })).decision).toBe('implicit-deny');
    });
  });

  describe('training grants', () => {
    const TRAINING = role('cc-training');
    const withTraining = (state: Partial<KeyPolicyState>): PolicyDocument =>
      parsePolicyDocument(JSON.stringify(buildKeyPolicy({ employeeId: 'e-42', status: 'active', scopes: ['keystrokes'], ...state } as KeyPolicyState, { ...ROLES, training: TRAINING })));
    const grantRequest = (context: Record<string, PolicyValue>, who: Who = asRole('cc-steward')): EvaluationRequest => request({ who, action: 'kms:CreateGrant', context });
    const good: Record<string, PolicyValue> = {
      'kms:GrantOperations': ['Decrypt'],
      'kms:GranteePrincipal': TRAINING,
      'kms:GrantIsForAWSResource': 'false',
      'kms:GrantConstraintType': 'EncryptionContextSubset',
      'kms:EncryptionContext:employeeId': 'e-42',
      'kms:EncryptionContext:scope': 'keystrokes',
      'kms:EncryptionContextKeys': ['employeeId', 'scope'],
    };
    const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));
    const decide = (state: Partial<KeyPolicyState>, context: Record<string, PolicyValue>) => evaluateResourcePolicy(withTraining(state), grantRequest(context)).decision;

    it('lets the steward role grant the training role Decrypt on this employee and a scope consented now', () => {
      expect(decide({}, good)).toBe('allow');
    });

    it('allows it while paused: a pause stops capture, not consent', () => {
      expect(decide({ status: 'paused', pausedUntil: UNTIL }, good)).toBe('allow');
    });

    it.each([
      ['a scope not consented now', { ...good, 'kms:EncryptionContext:scope': 'clicks' }],
      ['no scope in the constraint (it would open every scope)', without('kms:EncryptionContext:scope')],
      ['another employee', { ...good, 'kms:EncryptionContext:employeeId': 'e-7' }],
      ['no employee in the constraint', without('kms:EncryptionContext:employeeId')],
      ['another operation', { ...good, 'kms:GrantOperations': ['Decrypt', 'CreateGrant'] }],
      ['another grantee (the export role with a scope)', { ...good, 'kms:GranteePrincipal': ROLES.ingest }],
      ['a retiring principal', { ...good, 'kms:RetiringPrincipal': TRAINING }],
      ['an EncryptionContextEquals constraint', { ...good, 'kms:GrantConstraintType': 'EncryptionContextEquals' }],
      ['no constraint', without('kms:GrantConstraintType')],
      ['a grant for an AWS resource', { ...good, 'kms:GrantIsForAWSResource': 'true' }],
    ])('refuses a training grant with %s', (_name, context) => {
      expect(decide({}, context)).toBe('implicit-deny');
    });

    it.each([
      ['withdrawn', { status: 'revoked', scopes: [] }],
      ['never consented', { status: 'none', scopes: [] }],
      ['erased', { status: 'purging', scopes: [] }],
    ] as const)('refuses every training grant once consent is %s', (_name, state) => {
      expect(decide(state as Partial<KeyPolicyState>, good)).toBe('implicit-deny');
    });

    it('follows a narrowing: the scope taken away can no longer be granted', () => {
      expect(decide({ scopes: ['keystrokes', 'clicks'] }, { ...good, 'kms:EncryptionContext:scope': 'clicks' })).toBe('allow');
      expect(decide({ scopes: ['keystrokes'] }, { ...good, 'kms:EncryptionContext:scope': 'clicks' })).toBe('implicit-deny');
    });

    it('lets no one but the steward role grant, not even the training role to itself', () => {
      expect(evaluateResourcePolicy(withTraining({}), grantRequest(good, asRole('cc-training'))).decision).toBe('implicit-deny');
      expect(evaluateResourcePolicy(withTraining({}), grantRequest(good, asRole('cc-consent'))).decision).toBe('implicit-deny');
    });

    it('gives the training role nothing directly: no Decrypt without a grant', () => {
      const decrypt = request({ who: asRole('cc-training'), action: 'kms:Decrypt', context: { 'kms:EncryptionContext:employeeId': 'e-42', 'kms:EncryptionContext:scope': 'keystrokes' } });
      expect(evaluateResourcePolicy(withTraining({}), decrypt).decision).toBe('implicit-deny');
    });
  });
});

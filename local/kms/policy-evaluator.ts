// IAM policy evaluation for the local KMS: statements, principals, actions, resources and
// conditions, as AWS evaluates them. Pure: no clock, no I/O. The caller supplies every context key.

export type PolicyValue = string | readonly string[];

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: '*' | Readonly<Record<string, PolicyValue>>;
  readonly NotPrincipal?: '*' | Readonly<Record<string, PolicyValue>>;
  readonly Action?: PolicyValue;
  readonly NotAction?: PolicyValue;
  readonly Resource?: PolicyValue;
  readonly NotResource?: PolicyValue;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: PolicyStatement | readonly PolicyStatement[];
}

export interface EvaluationRequest {
  readonly principal: {
    /** The IAM identity: for a role session, the role ARN (what aws:PrincipalArn holds). */
    readonly arn: string;
    /** For a role session, `arn:aws:sts::<acct>:assumed-role/<role>/<session>`. */
    readonly sessionArn?: string;
    readonly accountId: string;
  };
  /** e.g. `kms:GenerateDataKey`; matched case-insensitively. */
  readonly action: string;
  /** e.g. the key ARN. */
  readonly resource: string;
  /**
   * Condition context keys. Names are matched case-insensitively; a multivalued key is an array.
   * Every value is a string, as in AWS (dates ISO-8601, booleans "true"/"false", numbers decimal).
   */
  readonly context: Readonly<Record<string, PolicyValue>>;
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

export interface ResourcePolicyDecision {
  readonly decision: Decision;
  /** An Allow statement named this principal (or `*`) directly. */
  readonly allowedDirectly: boolean;
  /** An Allow statement named the principal's account (`<acct>` or `arn:aws:iam::<acct>:root`), which delegates to IAM. */
  readonly allowedViaAccount: boolean;
}

export class PolicyGrammarError extends Error {
  override readonly name = 'PolicyGrammarError';
}

/** Every condition operator AWS documents, without the `IfExists` suffix or a set prefix. */
export const CONDITION_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Null',
] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** Which policy a document is: identity policies name no principal, resource policies always do. */
export type PolicyKind = 'identity' | 'resource';

/** Parses and checks a policy's grammar; throws PolicyGrammarError with a clear message. */
export function parsePolicyDocument(json: string): PolicyDocument {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new PolicyGrammarError(`policy is not valid JSON (${(error as Error).message})`);
  }
  checkGrammar(parsed);
  return parsed;
}

/**
 * Checks the rules that depend on where a policy is attached: an identity policy may not name a
 * principal, and every statement of a resource policy must have Principal or NotPrincipal.
 */
export function assertPolicyKind(doc: PolicyDocument, kind: PolicyKind): void {
  const compiled = compile(doc);
  if (kind === 'identity' && compiled.someStatementNamesPrincipal) {
    throw new PolicyGrammarError('an identity policy cannot have Principal or NotPrincipal; name principals only in resource policies');
  }
  if (kind === 'resource' && !compiled.everyStatementNamesPrincipal) {
    throw new PolicyGrammarError('every statement of a resource policy needs Principal or NotPrincipal');
  }
}

/** Identity policies: no Principal element. Explicit Deny wins, then any Allow. */
export function evaluateIdentityPolicies(docs: readonly PolicyDocument[], request: EvaluationRequest): Decision {
  const req = prepare(request);
  let allowed = false;
  for (const doc of docs) {
    assertPolicyKind(doc, 'identity');
    for (const st of compile(doc).statements) {
      // An Allow that cannot change the outcome is not worth its conditions; Denies always are.
      if (st.allow && allowed) continue;
      if (!statementApplies(st, req)) continue;
      if (!st.allow) return 'explicit-deny';
      allowed = true;
    }
  }
  return allowed ? 'allow' : 'implicit-deny';
}

/**
 * A resource policy (a key policy): Principal/NotPrincipal must match the caller.
 * On an explicit deny both flags are false, so `decision === 'allow'` iff one of them is true.
 */
export function evaluateResourcePolicy(doc: PolicyDocument, request: EvaluationRequest): ResourcePolicyDecision {
  assertPolicyKind(doc, 'resource');
  const req = prepare(request);
  let direct = false;
  let viaAccount = false;
  for (const st of compile(doc).statements) {
    if (!actionMatches(st, req)) continue;
    const who = principalMatch(st, req);
    if (who === 'none') continue;
    if (st.allow && (who === 'direct' ? direct : viaAccount)) continue;
    if (!resourceMatches(st, req) || !conditionsHold(st, req)) continue;
    // A Deny naming the account denies every principal in it: there is nothing to delegate.
    if (!st.allow) return { decision: 'explicit-deny', allowedDirectly: false, allowedViaAccount: false };
    if (who === 'direct') direct = true;
    else viaAccount = true;
  }
  return { decision: direct || viaAccount ? 'allow' : 'implicit-deny', allowedDirectly: direct, allowedViaAccount: viaAccount };
}

// ---------------------------------------------------------------------------------------------
// Grammar

const DOCUMENT_KEYS = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const PRINCIPAL_TYPES = new Set(['AWS', 'Service', 'Federated', 'CanonicalUser']);
const VERSIONS = new Set(['2012-10-17', '2008-10-17']);
const ACTION_PATTERN = /^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$/;
const ACCOUNT_ID = /^\d{12}$/;
const ACCOUNT_ROOT = /^arn:[a-z-]+:iam::(\d{12}):root$/;
const UNIQUE_ID = /^A[0-9A-Z]{15,}$/;
const OPERATOR_NAMES = new Set<string>(CONDITION_OPERATORS);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function fail(path: string, message: string): never {
  throw new PolicyGrammarError(`${path}: ${message}`);
}

function checkGrammar(value: unknown): asserts value is PolicyDocument {
  if (!isRecord(value)) fail('policy', `must be a JSON object, got ${show(value)}`);
  for (const key of Object.keys(value)) {
    if (!DOCUMENT_KEYS.has(key)) fail('policy', `unknown element ${show(key)}; use Version, Id and Statement`);
  }
  if (value['Version'] !== undefined && !(typeof value['Version'] === 'string' && VERSIONS.has(value['Version']))) {
    fail('Version', `${show(value['Version'])} is not a policy language version; use "2012-10-17"`);
  }
  if (value['Id'] !== undefined && typeof value['Id'] !== 'string') fail('Id', `must be a string, got ${show(value['Id'])}`);
  const statement = value['Statement'];
  if (statement === undefined) fail('policy', 'Statement is missing');
  if (Array.isArray(statement)) {
    if (statement.length === 0) fail('Statement', 'must hold at least one statement');
    statement.forEach((s: unknown, i) => checkStatement(s, `Statement[${i}]`));
  } else {
    checkStatement(statement, 'Statement');
  }
}

function checkStatement(st: unknown, path: string): void {
  if (!isRecord(st)) fail(path, `must be an object, got ${show(st)}`);
  for (const key of Object.keys(st)) {
    if (!STATEMENT_KEYS.has(key)) fail(path, `unknown element ${show(key)}`);
  }
  if (st['Sid'] !== undefined && typeof st['Sid'] !== 'string') fail(`${path}.Sid`, `must be a string, got ${show(st['Sid'])}`);
  if (st['Effect'] === undefined) fail(path, 'Effect is missing; use "Allow" or "Deny"');
  if (st['Effect'] !== 'Allow' && st['Effect'] !== 'Deny') fail(`${path}.Effect`, `${show(st['Effect'])} must be "Allow" or "Deny"`);
  exactlyOne(st, path, 'Action', 'NotAction');
  exactlyOne(st, path, 'Resource', 'NotResource');
  if (st['Principal'] !== undefined && st['NotPrincipal'] !== undefined) fail(path, 'has both Principal and NotPrincipal; keep one');
  // AWS documents NotPrincipal as Deny-only; an Allow with it would grant to everyone but a few.
  if (st['NotPrincipal'] !== undefined && st['Effect'] === 'Allow') fail(path, 'NotPrincipal is supported only with "Effect": "Deny"');
  for (const key of ['Action', 'NotAction'] as const) {
    if (st[key] === undefined) continue;
    for (const action of stringList(st[key], `${path}.${key}`)) {
      if (action !== '*' && !ACTION_PATTERN.test(action)) {
        fail(`${path}.${key}`, `${show(action)} is not an action; use "*" or "<service>:<action>" such as "kms:Decrypt"`);
      }
    }
  }
  for (const key of ['Resource', 'NotResource'] as const) {
    if (st[key] === undefined) continue;
    for (const resource of stringList(st[key], `${path}.${key}`)) {
      if (resource !== '*' && !resource.startsWith('arn:')) fail(`${path}.${key}`, `${show(resource)} must be "*" or an ARN`);
    }
  }
  for (const key of ['Principal', 'NotPrincipal'] as const) {
    if (st[key] !== undefined) checkPrincipal(st[key], `${path}.${key}`);
  }
  if (st['Condition'] !== undefined) checkCondition(st['Condition'], `${path}.Condition`);
}

function exactlyOne(st: Record<string, unknown>, path: string, a: string, b: string): void {
  if (st[a] !== undefined && st[b] !== undefined) fail(path, `has both ${a} and ${b}; keep one`);
  if (st[a] === undefined && st[b] === undefined) fail(path, `${a} (or ${b}) is missing`);
}

function stringList(value: unknown, path: string): readonly string[] {
  const list: readonly unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) fail(path, 'must not be an empty list');
  for (const item of list) {
    if (typeof item !== 'string' || item.length === 0) fail(path, `values must be non-empty strings, got ${show(item)}`);
  }
  return list as readonly string[];
}

/**
 * Condition values: IAM also takes JSON numbers and booleans (CDK writes `"s3:TlsVersion": 1.2`
 * and `"aws:SecureTransport": false`) and compares them as their string forms.
 */
function conditionValueList(value: unknown, path: string): readonly string[] {
  const list: readonly unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) fail(path, 'must not be an empty list');
  return list.map((item) => {
    if (typeof item === 'number' && Number.isFinite(item)) return String(item);
    if (typeof item === 'boolean') return String(item);
    if (typeof item !== 'string' || item.length === 0) fail(path, `values must be non-empty strings, numbers or booleans, got ${show(item)}`);
    return item;
  });
}

function checkPrincipal(value: unknown, path: string): void {
  if (value === '*') return;
  if (!isRecord(value)) fail(path, `must be "*" or an object such as {"AWS": "<role arn>"}, got ${show(value)}`);
  const types = Object.keys(value);
  if (types.length === 0) fail(path, 'names no principal');
  for (const type of types) {
    if (!PRINCIPAL_TYPES.has(type)) fail(path, `unknown principal type ${show(type)}; use AWS, Service, Federated or CanonicalUser`);
    for (const id of stringList(value[type], `${path}.${type}`)) {
      if (type !== 'AWS' || id === '*') continue;
      if (!(ACCOUNT_ID.test(id) || UNIQUE_ID.test(id) || id.startsWith('arn:'))) {
        fail(`${path}.AWS`, `${show(id)} is not a principal; use an account id, an ARN or "*"`);
      }
      // AWS accepts "*" alone but no wildcard inside a principal ARN.
      if (id.includes('*') || id.includes('?')) fail(`${path}.AWS`, `${show(id)}: a principal ARN cannot hold wildcards`);
    }
  }
}

function checkCondition(value: unknown, path: string): void {
  if (!isRecord(value)) fail(path, `must be an object of operators, got ${show(value)}`);
  for (const [name, block] of Object.entries(value)) {
    const op = parseOperator(name);
    if (op === undefined) {
      fail(path, `unknown condition operator ${show(name)}; use e.g. StringEquals, ForAllValues:StringLike or DateLessThanIfExists`);
    }
    if (!isRecord(block)) fail(`${path}.${name}`, `must be an object of condition keys, got ${show(block)}`);
    const keys = Object.keys(block);
    if (keys.length === 0) fail(`${path}.${name}`, 'names no condition key');
    for (const key of keys) {
      if (key.length === 0) fail(`${path}.${name}`, 'a condition key name is empty');
      const values = conditionValueList(block[key], `${path}.${name}.${key}`);
      if (op.base === 'Null' && values.some((v) => v !== 'true' && v !== 'false')) {
        fail(`${path}.${name}.${key}`, `Null takes "true" (key absent) or "false" (key present), got ${show(block[key])}`);
      }
    }
  }
}

interface ParsedOperator {
  readonly base: ConditionOperator;
  readonly set: 'all' | 'any' | undefined;
  readonly ifExists: boolean;
}

const operatorCache = new Map<string, ParsedOperator | null>();

/** Operator names are matched exactly as AWS spells them, so a typo fails loudly at parse time. */
function parseOperator(name: string): ParsedOperator | undefined {
  const cached = operatorCache.get(name);
  if (cached !== undefined) return cached ?? undefined;
  let rest = name;
  let set: ParsedOperator['set'];
  if (rest.startsWith('ForAllValues:')) {
    set = 'all';
    rest = rest.slice('ForAllValues:'.length);
  } else if (rest.startsWith('ForAnyValue:')) {
    set = 'any';
    rest = rest.slice('ForAnyValue:'.length);
  }
  let ifExists = false;
  if (rest.endsWith('IfExists')) {
    ifExists = true;
    rest = rest.slice(0, -'IfExists'.length);
  }
  let parsed: ParsedOperator | null = null;
  // Null tests presence itself, so neither IfExists nor a set prefix means anything on it.
  if (OPERATOR_NAMES.has(rest) && !(rest === 'Null' && (ifExists || set !== undefined))) {
    parsed = { base: rest as ConditionOperator, set, ifExists };
  }
  if (operatorCache.size < 512) operatorCache.set(name, parsed);
  return parsed ?? undefined;
}

// ---------------------------------------------------------------------------------------------
// Compiled form: documents are checked and normalised once per object (WeakMap), so a call only
// matches. Patterns with policy variables keep their tokens and resolve per request.

interface CompiledDocument {
  readonly statements: readonly CompiledStatement[];
  readonly someStatementNamesPrincipal: boolean;
  readonly everyStatementNamesPrincipal: boolean;
}

interface ActionPattern {
  /** `undefined` for `*`. */
  readonly service: string | undefined;
  readonly name: Glob;
}

type PrincipalEntry =
  | { readonly kind: 'any' }
  | { readonly kind: 'account'; readonly account: string }
  | { readonly kind: 'arn'; readonly arn: string; readonly roleKey: string | undefined }
  | { readonly kind: 'never' };

interface CompiledStatement {
  readonly allow: boolean;
  readonly actions: readonly ActionPattern[];
  readonly notAction: boolean;
  /** `undefined` when the element is `*` alone. */
  readonly resources: readonly Template[] | undefined;
  readonly notResource: boolean;
  readonly principals: readonly PrincipalEntry[] | undefined;
  readonly notPrincipal: boolean;
  readonly conditions: readonly CompiledCondition[];
}

interface CompiledCondition {
  readonly key: string;
  readonly op: ParsedOperator;
  readonly negated: boolean;
  readonly matchOne: (requestValue: string, req: PreparedRequest) => boolean;
  /** For Null: true when the policy asks for the key to be absent, per value. */
  readonly nullWants: readonly boolean[];
}

const compiledDocuments = new WeakMap<PolicyDocument, CompiledDocument>();

function compile(doc: PolicyDocument): CompiledDocument {
  const cached = compiledDocuments.get(doc);
  if (cached) return cached;
  // Documents built in code never went through parsePolicyDocument; hold them to the same grammar.
  checkGrammar(doc);
  const variables = doc.Version === '2012-10-17';
  const list: readonly PolicyStatement[] = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement as PolicyStatement];
  const statements = list.map((st) => compileStatement(st, variables));
  const named = list.map((st) => st.Principal !== undefined || st.NotPrincipal !== undefined);
  const compiled: CompiledDocument = {
    statements,
    someStatementNamesPrincipal: named.some(Boolean),
    everyStatementNamesPrincipal: named.every(Boolean),
  };
  compiledDocuments.set(doc, compiled);
  return compiled;
}

function asList(value: PolicyValue): readonly string[] {
  return typeof value === 'string' ? [value] : value;
}

function compileStatement(st: PolicyStatement, variables: boolean): CompiledStatement {
  const actionValue = st.Action ?? st.NotAction ?? [];
  const resourceValue = st.Resource ?? st.NotResource ?? [];
  const resources = asList(resourceValue);
  const principal = st.Principal ?? st.NotPrincipal;
  return {
    allow: st.Effect === 'Allow',
    actions: asList(actionValue).map(compileAction),
    notAction: st.NotAction !== undefined,
    resources: resources.includes('*') ? undefined : resources.map((r) => template(r, variables)),
    notResource: st.NotResource !== undefined,
    principals: principal === undefined ? undefined : compilePrincipal(principal),
    notPrincipal: st.NotPrincipal !== undefined,
    conditions: compileConditions(st.Condition ?? {}, variables),
  };
}

function compileAction(action: string): ActionPattern {
  if (action === '*') return { service: undefined, name: STAR_ONLY };
  const colon = action.indexOf(':');
  // Actions are case-insensitive, so both sides are lowered once and compared exactly after.
  return { service: action.slice(0, colon).toLowerCase(), name: glob(action.slice(colon + 1).toLowerCase()) };
}

function compilePrincipal(principal: '*' | Readonly<Record<string, PolicyValue>>): PrincipalEntry[] {
  if (principal === '*') return [{ kind: 'any' }];
  const entries: PrincipalEntry[] = [];
  for (const [type, ids] of Object.entries(principal)) {
    for (const id of asList(ids)) {
      // Service, federated and canonical-user principals never sign as one of our IAM roles.
      if (type !== 'AWS') entries.push({ kind: 'never' });
      else if (id === '*') entries.push({ kind: 'any' });
      else if (ACCOUNT_ID.test(id)) entries.push({ kind: 'account', account: id });
      else {
        const root = ACCOUNT_ROOT.exec(id);
        if (root?.[1] !== undefined) entries.push({ kind: 'account', account: root[1] });
        else entries.push({ kind: 'arn', arn: id, roleKey: roleKeyOfRoleArn(id) });
      }
    }
  }
  return entries;
}

const ROLE_ARN = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:[^:]*\/)?([^/:]+)$/;
const SESSION_ARN = /^arn:([a-z-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

/** partition|account|role name: what a role ARN and its sessions' ARNs have in common. */
function roleKeyOfRoleArn(arn: string): string | undefined {
  const m = ROLE_ARN.exec(arn);
  return m ? `${m[1]}|${m[2]}|${m[3]}` : undefined;
}

function roleKeyOfSessionArn(arn: string | undefined): string | undefined {
  if (arn === undefined) return undefined;
  const m = SESSION_ARN.exec(arn);
  return m ? `${m[1]}|${m[2]}|${m[3]}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Request preparation: context names lowered once per call. Not cached across calls, so a request
// object reused with a changed context can never be judged on its old one.

interface PreparedRequest {
  readonly arn: string;
  readonly sessionArn: string | undefined;
  readonly sessionRoleKey: string | undefined;
  readonly accountId: string;
  readonly isAccountRoot: boolean;
  readonly service: string;
  readonly actionName: string;
  readonly resource: string;
  readonly context: ReadonlyMap<string, PolicyValue>;
}

function prepare(request: EvaluationRequest): PreparedRequest {
  const context = new Map<string, PolicyValue>();
  for (const [name, value] of Object.entries(request.context)) {
    const key = name.toLowerCase();
    const earlier = context.get(key);
    // Names differing only in case collide; keeping both values as a multivalued key makes every
    // single-valued operator on it fail rather than silently picking one of them.
    context.set(key, earlier === undefined ? value : [...asList(earlier), ...asList(value)]);
  }
  const action = request.action.toLowerCase();
  const colon = action.indexOf(':');
  return {
    arn: request.principal.arn,
    sessionArn: request.principal.sessionArn,
    sessionRoleKey: roleKeyOfSessionArn(request.principal.sessionArn),
    accountId: request.principal.accountId,
    isAccountRoot: ACCOUNT_ROOT.exec(request.principal.arn)?.[1] === request.principal.accountId,
    service: colon < 0 ? '' : action.slice(0, colon),
    actionName: colon < 0 ? action : action.slice(colon + 1),
    resource: request.resource,
    context,
  };
}

// ---------------------------------------------------------------------------------------------
// Statement matching

function statementApplies(st: CompiledStatement, req: PreparedRequest): boolean {
  return actionMatches(st, req) && resourceMatches(st, req) && conditionsHold(st, req);
}

function actionMatches(st: CompiledStatement, req: PreparedRequest): boolean {
  let any = false;
  for (const a of st.actions) {
    if (a.service === undefined || (a.service === req.service && globMatch(a.name, req.actionName))) {
      any = true;
      break;
    }
  }
  return any !== st.notAction;
}

function resourceMatches(st: CompiledStatement, req: PreparedRequest): boolean {
  let any = st.resources === undefined;
  if (st.resources) {
    for (const r of st.resources) {
      const units = resolveGlob(r, req);
      if (units !== undefined && globMatch(units, req.resource)) {
        any = true;
        break;
      }
    }
  }
  return any !== st.notResource;
}

/** How a statement's Principal or NotPrincipal element covers the caller. */
function principalMatch(st: CompiledStatement, req: PreparedRequest): 'direct' | 'account' | 'none' {
  if (st.principals === undefined) return 'none';
  let account = false;
  let identity = false;
  let any = false;
  for (const e of st.principals) {
    if (e.kind === 'any') any = true;
    else if (e.kind === 'account') account ||= e.account === req.accountId;
    else if (e.kind === 'arn') {
      identity ||=
        e.arn === req.arn || e.arn === req.sessionArn || (e.roleKey !== undefined && e.roleKey === req.sessionRoleKey);
    }
  }
  if (!st.notPrincipal) {
    if (any || identity) return 'direct';
    return account ? 'account' : 'none';
  }
  // AWS checks a NotPrincipal against the account and then the identity (role, then session): a
  // caller escapes the statement only when its account and its identity are both listed.
  const excluded = any || (account && (identity || req.isAccountRoot));
  return excluded ? 'none' : 'direct';
}

function conditionsHold(st: CompiledStatement, req: PreparedRequest): boolean {
  for (const c of st.conditions) {
    if (!conditionHolds(c, req)) return false;
  }
  return true;
}

function conditionHolds(c: CompiledCondition, req: PreparedRequest): boolean {
  const raw = req.context.get(c.key);
  // An empty multivalued key is a null data set: AWS treats it as absent (Null true, ForAllValues true).
  const missing = raw === undefined || (typeof raw !== 'string' && raw.length === 0);
  if (c.op.base === 'Null') return c.nullWants.some((wantsAbsent) => wantsAbsent === missing);
  if (raw === undefined || missing) {
    if (c.op.ifExists) return true;
    if (c.op.set === 'all') return true;
    if (c.op.set === 'any') return false;
    return c.negated;
  }
  if (c.op.set === undefined) {
    // AWS requires a set operator for a multivalued key; a plain operator on one never matches.
    if (typeof raw !== 'string') return false;
    return c.matchOne(raw, req);
  }
  const values = asList(raw);
  if (c.op.set === 'all') {
    for (const v of values) if (!c.matchOne(v, req)) return false;
    return true;
  }
  for (const v of values) if (c.matchOne(v, req)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Condition operators. Each compiles its policy values once; `matchOne` answers for one request
// value: "some value matches" for positive operators, "no value matches" (NOR) for negated ones.
// A value that does not parse for its operator matches nothing.

const NEGATED = new Set<ConditionOperator>([
  'StringNotEquals',
  'StringNotEqualsIgnoreCase',
  'StringNotLike',
  'NumericNotEquals',
  'DateNotEquals',
  'NotIpAddress',
  'ArnNotEquals',
  'ArnNotLike',
]);

function compileConditions(condition: Readonly<Record<string, Readonly<Record<string, unknown>>>>, variables: boolean): CompiledCondition[] {
  const out: CompiledCondition[] = [];
  for (const [name, block] of Object.entries(condition)) {
    const op = parseOperator(name);
    if (op === undefined) throw new PolicyGrammarError(`unknown condition operator ${show(name)}`);
    for (const [key, value] of Object.entries(block)) {
      const values = (Array.isArray(value) ? value : [value]).map((item: unknown) => String(item));
      const positive = positiveMatcher(op.base, values, variables);
      const negated = NEGATED.has(op.base);
      out.push({
        key: key.toLowerCase(),
        op,
        negated,
        matchOne: negated ? (v, req) => !positive(v, req) : positive,
        nullWants: op.base === 'Null' ? values.map((v) => v === 'true') : [],
      });
    }
  }
  return out;
}

type Matcher = (requestValue: string, req: PreparedRequest) => boolean;

function positiveMatcher(base: ConditionOperator, values: readonly string[], variables: boolean): Matcher {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals': {
      const ts = values.map((v) => template(v, variables));
      return (v, req) => ts.some((t) => resolveLiteral(t, req) === v);
    }
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase': {
      const ts = values.map((v) => template(v, variables));
      return (v, req) => {
        const lower = v.toLowerCase();
        return ts.some((t) => resolveLiteral(t, req)?.toLowerCase() === lower);
      };
    }
    case 'StringLike':
    case 'StringNotLike': {
      const ts = values.map((v) => template(v, variables));
      return (v, req) =>
        ts.some((t) => {
          const units = resolveGlob(t, req);
          return units !== undefined && globMatch(units, v);
        });
    }
    case 'NumericEquals':
    case 'NumericNotEquals':
      return numeric(values, (r, p) => r === p);
    case 'NumericLessThan':
      return numeric(values, (r, p) => r < p);
    case 'NumericLessThanEquals':
      return numeric(values, (r, p) => r <= p);
    case 'NumericGreaterThan':
      return numeric(values, (r, p) => r > p);
    case 'NumericGreaterThanEquals':
      return numeric(values, (r, p) => r >= p);
    case 'DateEquals':
    case 'DateNotEquals':
      return dates(values, (r, p) => r === p);
    case 'DateLessThan':
      return dates(values, (r, p) => r < p);
    case 'DateLessThanEquals':
      return dates(values, (r, p) => r <= p);
    case 'DateGreaterThan':
      return dates(values, (r, p) => r > p);
    case 'DateGreaterThanEquals':
      return dates(values, (r, p) => r >= p);
    case 'Bool': {
      const wanted = values.map(parseBool).filter((b): b is boolean => b !== undefined);
      return (v) => {
        const b = parseBool(v);
        return b !== undefined && wanted.includes(b);
      };
    }
    case 'BinaryEquals':
      return (v) => values.includes(v);
    case 'IpAddress':
    case 'NotIpAddress': {
      const blocks = values.map(parseCidr).filter((b): b is Cidr => b !== undefined);
      return (v) => {
        const ip = parseIp(v);
        return ip !== undefined && blocks.some((b) => cidrContains(b, ip));
      };
    }
    case 'ArnEquals':
    case 'ArnLike':
    case 'ArnNotEquals':
    case 'ArnNotLike': {
      // AWS documents both ArnEquals and ArnLike as component-wise matches with wildcards.
      const ts = values.map((v) => template(v, variables));
      return (v, req) => {
        const parts = splitArn(v);
        return parts !== undefined && ts.some((t) => arnMatches(t, parts, req));
      };
    }
    case 'Null':
      return () => false;
  }
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function parseNumber(value: string): number | undefined {
  return NUMBER.test(value) ? Number(value) : undefined;
}

function numeric(values: readonly string[], cmp: (request: number, policy: number) => boolean): Matcher {
  const ps = values.map(parseNumber).filter((n): n is number => n !== undefined);
  return (v) => {
    const r = parseNumber(v);
    return r !== undefined && ps.some((p) => cmp(r, p));
  };
}

const EPOCH = /^-?\d+$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO-8601 (a missing zone means UTC) or epoch seconds, in milliseconds. */
export function parseDate(value: string): number | undefined {
  if (EPOCH.test(value)) return Number(value) * 1000;
  const m = ISO_DATE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which would read years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number((frac + '000').slice(0, 3)));
  // Both roll 31 February over into March; reject instead.
  if (date.getUTCDate() !== day) return undefined;
  if (zone === 'Z') return date.getTime();
  const digits = zone.slice(1).replace(':', '');
  const offsetHours = Number(digits.slice(0, 2));
  const offsetMinutes = Number(digits.slice(2, 4));
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const sign = zone.startsWith('-') ? -1 : 1;
  return date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
}

function dates(values: readonly string[], cmp: (request: number, policy: number) => boolean): Matcher {
  const ps = values.map(parseDate).filter((n): n is number => n !== undefined);
  return (v) => {
    const r = parseDate(v);
    return r !== undefined && ps.some((p) => cmp(r, p));
  };
}

function parseBool(value: string): boolean | undefined {
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return undefined;
}

// --- IP addresses: IPv4 as one 32-bit group, IPv6 as eight 16-bit groups.

interface Ip {
  readonly v6: boolean;
  readonly groups: readonly number[];
}

interface Cidr extends Ip {
  readonly prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIp(value: string): Ip | undefined {
  const v4 = IPV4.exec(value);
  if (v4) {
    const [a, b, c, d] = [v4[1], v4[2], v4[3], v4[4]].map(Number) as [number, number, number, number];
    return { v6: false, groups: [((a << 24) | (b << 16) | (c << 8) | d) >>> 0] };
  }
  return parseIpv6(value);
}

function parseIpv6(value: string): Ip | undefined {
  if (!value.includes(':')) return undefined;
  const halves = value.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string, last: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] ?? '';
      // Only the address's last 32 bits may be written as dotted IPv4 (::ffff:10.0.0.1).
      const v4 = last && i === pieces.length - 1 ? IPV4.exec(piece) : null;
      if (v4) {
        const [a, b, c, d] = [v4[1], v4[2], v4[3], v4[4]].map(Number) as [number, number, number, number];
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (HEX_GROUP.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parse(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? parse(halves[1] ?? '', true) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? { v6: true, groups: head } : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return { v6: true, groups: [...head, ...new Array<number>(fill).fill(0), ...tail] };
}

function parseCidr(value: string): Cidr | undefined {
  const slash = value.indexOf('/');
  const ip = parseIp(slash < 0 ? value : value.slice(0, slash));
  if (ip === undefined) return undefined;
  const max = ip.v6 ? 128 : 32;
  if (slash < 0) return { ...ip, prefix: max };
  const text = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(text) || Number(text) > max) return undefined;
  return { ...ip, prefix: Number(text) };
}

function cidrContains(block: Cidr, ip: Ip): boolean {
  if (block.v6 !== ip.v6) return false;
  const width = block.v6 ? 16 : 32;
  let bits = block.prefix;
  for (let i = 0; i < block.groups.length && bits > 0; i++) {
    const take = Math.min(bits, width);
    // Shift in two steps: JavaScript masks a 32-bit shift count, so `x >>> 32` would be x.
    const drop = width - take;
    const a = Math.floor((block.groups[i] ?? 0) / 2 ** drop);
    const b = Math.floor((ip.groups[i] ?? 0) / 2 ** drop);
    if (a !== b) return false;
    bits -= take;
  }
  return true;
}

// --- ARNs: six colon-separated components, the last holding any further colons.

function splitArn(value: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < 5; i++) {
    const colon = value.indexOf(':', start);
    if (colon < 0) return undefined;
    parts.push(value.slice(start, colon));
    start = colon + 1;
  }
  parts.push(value.slice(start));
  return parts;
}

const COLON = 58;

function arnMatches(t: Template, requestParts: readonly string[], req: PreparedRequest): boolean {
  const units = resolveGlob(t, req);
  if (units === undefined) return false;
  // Split after resolving, so a variable holding a whole ARN (aws:PrincipalArn) still has six parts.
  let start = 0;
  for (let part = 0; part < 5; part++) {
    const colon = units.indexOf(COLON, start);
    if (colon < 0) return false;
    if (!globMatch(units.slice(start, colon), requestParts[part] ?? '')) return false;
    start = colon + 1;
  }
  return globMatch(units.slice(start), requestParts[5] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Templates and globs. A glob is an array of UTF-16 code units where STAR and QMARK stand for the
// wildcards, so characters that came from a variable or an escape (`${*}`) stay literal.

type Glob = readonly number[];
const STAR = -1;
const QMARK = -2;
const STAR_ONLY: Glob = [STAR];

type Token =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'qmark' }
  | { readonly kind: 'variable'; readonly name: string; readonly fallback: string | undefined };

interface Template {
  readonly tokens: readonly Token[];
  /** Precomputed when the template holds no variable. */
  readonly glob: Glob | undefined;
  readonly literal: string | undefined;
}

// A key name (tag keys may hold spaces), then optionally `, 'default'`.
const VARIABLE_BODY = /^\s*([^,']*?)\s*(?:,\s*'([^']*)'\s*)?$/;
const templateCache = new Map<string, Template>();
const TEMPLATE_CACHE_LIMIT = 4096;

/** Policy variables exist only in policy language 2012-10-17; before it `${...}` is plain text. */
function template(source: string, variables: boolean): Template {
  const cacheKey = (variables ? 'v' : 'l') + source;
  const cached = templateCache.get(cacheKey);
  if (cached) return cached;
  const tokens: Token[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') tokens.push({ kind: 'text', text });
    text = '';
  };
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] ?? '';
    if (ch === '*' || ch === '?') {
      flush();
      tokens.push({ kind: ch === '*' ? 'star' : 'qmark' });
      continue;
    }
    const close = variables && ch === '$' && source[i + 1] === '{' ? source.indexOf('}', i + 2) : -1;
    if (close < 0) {
      text += ch;
      continue;
    }
    const body = source.slice(i + 2, close);
    i = close;
    if (body === '*' || body === '?' || body === '$') {
      text += body;
      continue;
    }
    flush();
    const m = VARIABLE_BODY.exec(body);
    // A malformed variable can never resolve; an empty name keeps it that way.
    tokens.push({ kind: 'variable', name: m?.[1]?.toLowerCase() ?? '', fallback: m?.[2] });
  }
  flush();
  const hasVariable = tokens.some((t) => t.kind === 'variable');
  const compiled: Template = {
    tokens,
    glob: hasVariable ? undefined : toGlob(tokens, undefined),
    literal: hasVariable ? undefined : toLiteral(tokens, undefined),
  };
  if (templateCache.size >= TEMPLATE_CACHE_LIMIT) templateCache.clear();
  templateCache.set(cacheKey, compiled);
  return compiled;
}

function variableValue(token: Token & { kind: 'variable' }, req: PreparedRequest | undefined): string | undefined {
  if (req === undefined || token.name === '') return undefined;
  const value = req.context.get(token.name);
  // A multivalued key cannot stand in for a variable; AWS documents that only single values can.
  if (typeof value === 'string') return value;
  if (value === undefined || value.length === 0) return token.fallback;
  return undefined;
}

function toGlob(tokens: readonly Token[], req: PreparedRequest | undefined): Glob | undefined {
  const units: number[] = [];
  for (const t of tokens) {
    if (t.kind === 'star') units.push(STAR);
    else if (t.kind === 'qmark') units.push(QMARK);
    else {
      const text = t.kind === 'text' ? t.text : variableValue(t, req);
      if (text === undefined) return undefined;
      for (let i = 0; i < text.length; i++) units.push(text.charCodeAt(i));
    }
  }
  return units;
}

function toLiteral(tokens: readonly Token[], req: PreparedRequest | undefined): string | undefined {
  let out = '';
  for (const t of tokens) {
    if (t.kind === 'star') out += '*';
    else if (t.kind === 'qmark') out += '?';
    else {
      const text = t.kind === 'text' ? t.text : variableValue(t, req);
      if (text === undefined) return undefined;
      out += text;
    }
  }
  return out;
}

function resolveGlob(t: Template, req: PreparedRequest): Glob | undefined {
  return t.glob ?? toGlob(t.tokens, req);
}

function resolveLiteral(t: Template, req: PreparedRequest): string | undefined {
  return t.literal ?? toLiteral(t.tokens, req);
}

/** Wildcard match, linear in practice: on a mismatch, backtrack only to the last star. */
function globMatch(pattern: Glob, text: string): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < text.length) {
    const unit = pattern[p];
    if (p < pattern.length && (unit === QMARK || unit === text.charCodeAt(s))) {
      p++;
      s++;
    } else if (unit === STAR) {
      starP = p++;
      starS = s;
    } else if (starP >= 0) {
      p = starP + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (pattern[p] === STAR) p++;
  return p === pattern.length;
}

function glob(source: string): Glob {
  return toGlob(template(source, false).tokens, undefined) ?? [];
}

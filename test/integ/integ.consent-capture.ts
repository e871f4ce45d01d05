// Integration test for a real AWS account (`npm run integ:aws` deploys, asserts, destroys; `npm run integ`, integ-runner, once it reads schema 55).
// The employee keys trust only this application's roles, and those trust only lambda.amazonaws.com,
// so no assertion can act *as* the ingest role. Instead three probe functions of this test stack
// act for three parties:
// - a driver invokes the real consent and ingest functions with API Gateway events carrying JWT
//   claims (requestContext.authorizer.jwt.claims), as the HTTP API would, and returns their answers:
//   ingest answers 202 `stored` only when its own GenerateDataKey, as the ingest role, succeeded;
// - an auditor, named in every key policy through `auditorRoleArn`, reads the key policy and state;
// - an administrator, whose IAM policy allows kms:* on every key, tries to use the employee key
//   and must get AccessDeniedException for each call.
// `test/infra/integ-snapshot.test.ts` checks the committed snapshot without AWS.
import { readFileSync } from 'node:fs';
import { App, Duration, RemovalPolicies, Stack, type CfnResource } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };

/** The auditor's role has a fixed name, so the key policies can name it before it exists in an account. */
const AUDITOR_ROLE_NAME = 'consent-capture-integ-auditor';
/**
 * The account the CLI resolved from the credentials (integ-runner runs the app through it); a
 * placeholder when synthesizing without credentials, as for the snapshot.
 * test/infra/integ-snapshot.test.ts compares templates with account ids masked.
 */
const ACCOUNT = process.env['CDK_DEFAULT_ACCOUNT'] ?? '123456789012';
const EMPLOYEE = 'integ-e-1';
const ALIAS = `alias/consent-capture/${EMPLOYEE}`;

const app = new App({
  context: {
    ...cdkJson.context,
    oidcIssuer: 'https://login.example.com/',
    oidcAudience: 'consent-capture-integ',
    keyDeletionDays: 7,
    auditorRoleArn: `arn:aws:iam::${ACCOUNT}:role/${AUDITOR_ROLE_NAME}`,
  },
});

const stack = new ConsentCaptureStack(app, 'ConsentCaptureInteg');
// The test erases its employee, so its key is pending deletion before the teardown; only then may
// the roles go (docs/runbook.md). An account's real deployment keeps RETAIN.
RemovalPolicies.of(stack).destroy({ applyToResourceTypes: ['AWS::IAM::Role', 'AWS::DynamoDB::Table', 'AWS::Logs::LogGroup'] });
(stack.ledger.node.defaultChild as CfnResource | undefined)?.addPropertyOverride('DeletionProtectionEnabled', false);

// The auditor role comes first: KMS refuses a key policy naming a principal that does not exist.
const auditorRoleStack = new Stack(app, 'ConsentCaptureIntegAuditor');
const auditorRole = new iam.Role(auditorRoleStack, 'AuditorRole', {
  roleName: AUDITOR_ROLE_NAME,
  assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
});
stack.addStackDependency(auditorRoleStack, 'employee key policies name the auditor role');

const probes = new Stack(app, 'ConsentCaptureIntegProbes');
const PROBE_CODE = `
const { KMSClient, GenerateDataKeyCommand, DescribeKeyCommand, GetKeyPolicyCommand, PutKeyPolicyCommand } = require('@aws-sdk/client-kms');
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const kms = new KMSClient({});
const lambda = new LambdaClient({});
const attempt = (call) => call.then(() => 'allowed', (e) => e.name);
function apiEvent(route, employeeId, scopes, body) {
  const [method, path] = route.split(' ');
  const now = Date.now();
  return { version: '2.0', routeKey: route, rawPath: path, rawQueryString: '', headers: { 'content-type': 'application/json' },
    requestContext: { accountId: 'integ', apiId: 'integ', routeKey: route, stage: '$default', requestId: String(now), time: new Date(now).toUTCString(), timeEpoch: now,
      domainName: 'integ', domainPrefix: 'integ', http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'integ' },
      authorizer: { jwt: { claims: { sub: employeeId, scope: scopes.join(' ') }, scopes } } },
    isBase64Encoded: false, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
}
exports.handler = async (input) => {
  switch (input.action) {
    case 'call': {
      // Batches are dated now, inside the consent window the grant opened.
      const body = input.body && input.body.events ? { ...input.body, batchId: 'b-' + Date.now(), events: input.body.events.map((e) => ({ ...e, ts: Date.now() })) } : input.body;
      const out = await lambda.send(new InvokeCommand({ FunctionName: input.functionName, Payload: JSON.stringify(apiEvent(input.route, input.employeeId, input.scopes, body)) }));
      const answer = JSON.parse(Buffer.from(out.Payload).toString('utf8'));
      return { statusCode: answer.statusCode, body: JSON.parse(answer.body || '{}') };
    }
    case 'audit': {
      const described = await kms.send(new DescribeKeyCommand({ KeyId: input.alias }));
      const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: described.KeyMetadata.Arn, PolicyName: 'default' }))).Policy);
      return { keyState: described.KeyMetadata.KeyState, statements: policy.Statement.map((s) => s.Sid + ':' + s.Effect).sort() };
    }
    case 'administer': {
      const takeover = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Takeover', Effect: 'Allow', Principal: { AWS: input.self }, Action: 'kms:*', Resource: '*' }] });
      return {
        generateDataKey: await attempt(kms.send(new GenerateDataKeyCommand({ KeyId: input.alias, KeySpec: 'AES_256', EncryptionContext: { employeeId: input.employeeId, scope: 'keystrokes', batchId: 'b-admin' } }))),
        describeKey: await attempt(kms.send(new DescribeKeyCommand({ KeyId: input.alias }))),
        putKeyPolicy: await attempt(kms.send(new PutKeyPolicyCommand({ KeyId: input.alias, PolicyName: 'default', Policy: takeover }))),
      };
    }
    default:
      throw new Error('unknown action ' + input.action);
  }
};`;

function probe(id: string, role: iam.IRole): lambda.Function {
  // The runtime's own AWS SDK is enough for a test probe; the application's functions pin theirs.
  return new lambda.Function(probes, id, { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline(PROBE_CODE), role, timeout: Duration.seconds(60) });
}
const lambdaService = new iam.ServicePrincipal('lambda.amazonaws.com');
const basicExecution = iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole');
const driverRole = new iam.Role(probes, 'DriverRole', { assumedBy: lambdaService, managedPolicies: [basicExecution] });
stack.consentFunction.fn.grantInvoke(driverRole);
stack.ingestFunction.fn.grantInvoke(driverRole);
const adminRole = new iam.Role(probes, 'AdministratorRole', {
  assumedBy: lambdaService,
  managedPolicies: [basicExecution],
  // What an administrator's IAM policy can give: everything on every key. The key policies decide.
  inlinePolicies: { Kms: new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ actions: ['kms:*'], resources: ['*'] })] }) },
});
const driver = probe('Driver', driverRole);
const auditor = probe('Auditor', auditorRole);
const administrator = probe('Administrator', adminRole);

const integ = new IntegTest(app, 'ConsentCaptureIntegTest', {
  testCases: [auditorRoleStack, stack, probes],
  diffAssets: false,
  cdkCommandOptions: { destroy: { args: { force: true } } },
});

const answer = (status: number, body: string) => ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp(`"statusCode":${status},"body":\\{.*${body}`) });
const call = (fn: lambda.IFunction, route: string, scopes: string[], body?: unknown) =>
  integ.assertions.invokeFunction({ functionName: driver.functionName, payload: JSON.stringify({ action: 'call', functionName: fn.functionName, route, employeeId: EMPLOYEE, scopes, body }) });
const batch = { deviceId: 'integ', events: [{ kind: 'keystroke', text: 'integration test' }] };
const audit = () => integ.assertions.invokeFunction({ functionName: auditor.functionName, payload: JSON.stringify({ action: 'audit', alias: ALIAS }) });

const grant = call(stack.consentFunction.fn, 'POST /v1/consent', ['consent:manage'], { scopes: ['keystrokes'], noticeVersion: 'integ', noticeSha256: '0'.repeat(64) });
grant.expect(answer(200, '"status":"active"'));
const storedWithConsent = call(stack.ingestFunction.fn, 'POST /v1/events', ['capture:write'], batch);
storedWithConsent.expect(answer(202, '"stored":\\{"keystrokes":1\\}'));
const consentedPolicy = audit();
consentedPolicy.expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('"keyState":"Enabled".*"CaptureWhileConsented:Allow"') }));
const pause = call(stack.consentFunction.fn, 'POST /v1/consent/pause', ['consent:manage'], { minutes: 30 });
pause.expect(answer(200, '"status":"paused"'));
const refusedWhilePaused = call(stack.ingestFunction.fn, 'POST /v1/events', ['capture:write'], batch);
refusedWhilePaused.expect(answer(403, '"error":"capture-not-permitted"'));
// The ingest role's data keys are denied by the key itself while paused, not only by ingest's check.
const pausedPolicy = audit();
pausedPolicy.expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('"Paused:Deny"') }));
const administer = integ.assertions.invokeFunction({ functionName: administrator.functionName, payload: JSON.stringify({ action: 'administer', alias: ALIAS, employeeId: EMPLOYEE, self: adminRole.roleArn }) });
administer.expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('"generateDataKey":"AccessDeniedException","describeKey":"AccessDeniedException","putKeyPolicy":"AccessDeniedException"') }));
const erase = call(stack.consentFunction.fn, 'POST /v1/consent/revoke', ['consent:manage'], { erase: true });
erase.expect(answer(200, '"status":"purg'));
// The purge worker disables the key and schedules its deletion from the purge queue.
const shredded = audit();
shredded.expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('"keyState":"PendingDeletion"') }));
shredded.waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(20) });

grant.next(storedWithConsent).next(consentedPolicy).next(pause).next(refusedWhilePaused).next(pausedPolicy).next(administer).next(erase).next(shredded);

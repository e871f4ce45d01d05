// The deploy as the README documents it, through bin/app.ts's own code path
// (buildConsentCaptureApp): every documented combination of context either synthesizes with no
// cdk-nag finding in any pack, or fails with a message that names the key and the fix. The
// README's own `npx cdk` commands are read back and run the same way.

import { readFileSync } from 'node:fs';
import type { App } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildConsentCaptureApp } from '../../lib/consent-capture-app.js';
import { ContextError } from '../../lib/consent-capture-stack.js';
import { testApp } from './fixtures/test-app.js';

const ISSUER = { oidcIssuer: 'https://login.example.com/', oidcAudience: 'consent-capture' };
const ENV = { account: '123456789012', region: 'eu-west-1' };

/** An app with exactly this context over cdk.json's (no test defaults for issuer and audience). */
function appWith(context: Record<string, unknown>): App {
  return testApp({ oidcIssuer: undefined, oidcAudience: undefined, ...context });
}

/** Findings of every pack bin/app.ts registers, as `rule path`. */
function findings(app: App): string[] {
  return [new AwsSolutionsChecks(), new ServerlessChecks(), new NIST80053R5Checks()].flatMap((pack) =>
    pack.validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`)),
  );
}

describe('documented context combinations', () => {
  it.each([
    ['issuer and audience', ISSUER],
    ['issuer, audience, account and region', { ...ISSUER, ...ENV }],
    ['account and region as numbers from cdk.json', { ...ISSUER, account: 123456789012, region: 'us-east-1' }],
    ['every optional key', { ...ISSUER, ...ENV, rolePrefix: 'consent-capture-prod', alarmEmail: 'oncall@example.com', permissionsBoundary: 'true', ingestConcurrency: '100', apiRateLimit: '100', apiBurstLimit: '200', auditorRoleArn: 'arn:aws:iam::123456789012:role/auditor', auditRetentionDays: '2555' }],
    ['an imported boundary', { ...ISSUER, permissionsBoundary: 'arn:aws:iam::123456789012:policy/org-boundary' }],
  ])('synthesizes with %s, with no cdk-nag finding', (_label, context) => {
    const app = appWith(context);

    const stack = buildConsentCaptureApp(app);

    expect(findings(app)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
    if ('account' in context) expect([stack.account, stack.region]).toEqual([String(context.account), context.region]);
  });

  it.each([
    ['nothing', {}, 'missing context "oidcIssuer": set it with -c oidcIssuer=https://login.example.com/'],
    ['no audience', { oidcIssuer: ISSUER.oidcIssuer }, 'missing context "oidcAudience"'],
    ['a lone account', { ...ISSUER, account: ENV.account }, 'context "account" was given without "region": pin the environment with both (-c account=123456789012 -c region=eu-west-1) or neither'],
    ['a lone region', { ...ISSUER, region: ENV.region }, 'context "region" was given without "account"'],
    ['a short account id', { ...ISSUER, account: '12345', region: ENV.region }, 'context "account" must be a 12-digit AWS account id, got "12345"'],
    ['a made-up region', { ...ISSUER, account: ENV.account, region: 'europe' }, 'context "region" must be an AWS Region name, got "europe"'],
    ['an http issuer', { ...ISSUER, oidcIssuer: 'http://login.example.com/' }, 'context "oidcIssuer" must be an https URL'],
    ['a boundary that is neither true nor an ARN', { ...ISSUER, permissionsBoundary: 'yes' }, 'context "permissionsBoundary" must be true, false or a managed policy ARN, got "yes"'],
    ['an ingest limit past the account', { ...ISSUER, ingestConcurrency: 5000 }, 'Lambda keeps at least 100 unreserved'],
    ['an audit retention of no days', { ...ISSUER, auditRetentionDays: '0' }, 'context "auditRetentionDays" must be a whole number of days from 1 to 3650, got "0"'],
  ])('refuses %s with a ContextError that says what to do', (_label, context, message) => {
    const app = appWith(context);

    let thrown: unknown;
    try {
      buildConsentCaptureApp(app);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ContextError);
    expect((thrown as Error).message).toContain(message);
  });

  it('registers the three nag packs, so cdk synth fails on a new finding', () => {
    const app = appWith(ISSUER);
    const stack = buildConsentCaptureApp(app);
    stack.roles.export.addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));

    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5/);
  });
});

describe('the README deploy section', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const deploy = readme.slice(readme.indexOf('## Deploying to AWS'), readme.indexOf('## Tests and benchmarks'));
  const commands = [...deploy.matchAll(/^npx cdk (\w+)([^\n]*)$/gm)].map((m) => ({ verb: m[1] ?? '', context: contextOf(m[2] ?? '') }));

  it('documents bootstrap, synth and deploy', () => {
    expect(commands.map((c) => c.verb)).toEqual(expect.arrayContaining(['bootstrap', 'synth', 'deploy']));
  });

  it('gives every command the context the app needs, so each synthesizes as written', () => {
    for (const command of commands) {
      const app = appWith(command.context);
      buildConsentCaptureApp(app);
      expect(findings(app), `npx cdk ${command.verb}`).toEqual([]);
    }
  });
});

/** `-c key=value` pairs of a command line; `…` and `<…>` placeholders become example values. */
function contextOf(line: string): Record<string, string> {
  const context: Record<string, string> = {};
  for (const match of line.matchAll(/-c\s+(\w+)=(\S+)/g)) {
    const [, key = '', raw = ''] = match;
    context[key] = raw.includes('…') || raw.startsWith('<') || raw.startsWith('$') ? (key === 'account' ? ENV.account : key === 'region' ? ENV.region : raw) : raw;
  }
  return context;
}

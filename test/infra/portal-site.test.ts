// The employee portal in AWS: S3 behind CloudFront with origin access control, the API under
// `/v1/*` of the same distribution (never cached, Authorization forwarded, Host not), and the
// security headers the local stack serves too; cdk-nag finds nothing with the page uploaded. The
// portal is a stack of its own beside the main one, which keeps only the contract's functions and roles.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { portalSecurityHeaders } from '../../contract/portal.js';
import { ConsentCaptureStack, ContextError } from '../../lib/consent-capture-stack.js';
import { ConsentCapturePortalStack } from '../../lib/portal-stack.js';
import { testApp } from './fixtures/test-app.js';

/** CloudFront's managed policies, by id. */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

function builtPage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cc-portal-page-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>portal</title>');
  return dir;
}

function synth(context: Record<string, unknown> = {}, contentDirectory?: string): { template: Template; app: ReturnType<typeof testApp> } {
  const app = testApp(context);
  const main = new ConsentCaptureStack(app, 'ConsentCapture');
  const portal = new ConsentCapturePortalStack(app, 'ConsentCapturePortal', {
    api: main.httpApi.api,
    oidcIssuer: main.settings.oidcIssuer,
    ...(contentDirectory === undefined ? {} : { contentDirectory }),
  });
  return { template: Template.fromStack(portal), app };
}

describe('the portal site', () => {
  it('serves the bucket through origin access control only: no public access, and a bucket policy for this distribution alone', () => {
    const { template } = synth();

    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', { OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always' } });
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        Origins: Match.arrayWith([Match.objectLike({ OriginAccessControlId: Match.anyValue(), S3OriginConfig: { OriginAccessIdentity: '' } })]),
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'redirect-to-https' }),
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });

  it('puts the API under /v1/* of the same distribution: HTTPS only, never cached, every method, Authorization forwarded and Host not', () => {
    const { template } = synth();

    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        CacheBehaviors: [
          Match.objectLike({
            PathPattern: '/v1/*',
            ViewerProtocolPolicy: 'https-only',
            CachePolicyId: CACHING_DISABLED,
            OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
            AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          }),
        ],
        Origins: Match.arrayWith([Match.objectLike({ CustomOriginConfig: Match.objectLike({ OriginProtocolPolicy: 'https-only', OriginSSLProtocols: ['TLSv1.2'] }) })]),
      }),
    });
  });

  it('adds the portal security headers to every answer: a CSP without inline script, HSTS, frame-ancestors none, DENY and nosniff', () => {
    const { template } = synth({ portalTokenEndpoint: 'https://idp.example.net/oauth2/token' });
    const policies = template.findResources('AWS::CloudFront::ResponseHeadersPolicy');
    const [policy] = Object.values(policies) as { Properties: { ResponseHeadersPolicyConfig: { SecurityHeadersConfig: Record<string, Record<string, unknown>> } } }[];
    const headers = policy?.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig ?? {};
    const csp = String(headers['ContentSecurityPolicy']?.['ContentSecurityPolicy']);

    // The same policy the local stack serves, with the identity provider's token endpoint allowed.
    expect(csp).toBe(portalSecurityHeaders('https://idp.example.net')['content-security-policy']);
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("connect-src 'self' https://idp.example.net;");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(headers['StrictTransportSecurity']).toMatchObject({ AccessControlMaxAgeSec: 63_072_000, IncludeSubdomains: true, Override: true });
    expect(headers['ContentTypeOptions']).toMatchObject({ Override: true });
    expect(headers['FrameOptions']).toMatchObject({ FrameOption: 'DENY', Override: true });
    const distribution = Object.values(template.findResources('AWS::CloudFront::Distribution'))[0] as { Properties: { DistributionConfig: { DefaultCacheBehavior: { ResponseHeadersPolicyId: unknown }; CacheBehaviors: { ResponseHeadersPolicyId: unknown }[] } } };
    const config = distribution.Properties.DistributionConfig;
    expect(config.DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual({ Ref: Object.keys(policies)[0] });
    expect(config.CacheBehaviors[0]?.ResponseHeadersPolicyId).toEqual({ Ref: Object.keys(policies)[0] });
  });

  it('refuses a token endpoint that is not https, naming the context key', () => {
    expect(() => synth({ portalTokenEndpoint: 'http://idp.example.net/token' })).toThrow(ContextError);
    expect(() => synth({ portalTokenEndpoint: 'http://idp.example.net/token' })).toThrow(/portalTokenEndpoint/);
  });

  it('finds nothing with the page uploaded (BucketDeployment included), in any cdk-nag pack', () => {
    const { app } = synth({}, builtPage());

    const found = [new AwsSolutionsChecks(), new ServerlessChecks(), new NIST80053R5Checks()].flatMap((pack) =>
      pack.validateScope(app).violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(' ')}`),
    );
    expect(found).toEqual([]);
  });

  it('outputs the portal URL', () => {
    const { template } = synth();

    template.hasOutput('PortalUrl', { Value: Match.anyValue() });
  });
});

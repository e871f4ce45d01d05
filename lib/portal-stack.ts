// The employee portal's own stack: the PortalSite (S3 + CloudFront, the API under `/v1/*`) beside
// the main stack, which it reads the HTTP API from. A stack of its own keeps the main stack's
// roles, functions and buckets exactly the contract's: the page's upload brings CDK's own
// deployment function and role, which belong to no function of the contract.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import type { Construct } from 'constructs';
import { PortalSite } from './constructs/portal-site.js';
import { readPortalConfig } from './portal-settings.js';

export interface ConsentCapturePortalStackProps extends StackProps {
  /** The main stack's HTTP API. */
  readonly api: apigw.IHttpApi;
  /** The API's JWT issuer (the tokens' `iss`), which the page's sign-in settings start from. */
  readonly oidcIssuer: string;
  /** The built page (portal/dist). @default - none: only config.json is uploaded */
  readonly contentDirectory?: string;
}

export class ConsentCapturePortalStack extends Stack {
  public readonly site: PortalSite;

  constructor(scope: Construct, id: string, props: ConsentCapturePortalStackProps) {
    super(scope, id, { description: 'consent-capture: the employee portal (S3 + CloudFront, the API under /v1/*)', ...props });
    this.site = new PortalSite(this, 'Portal', {
      api: props.api,
      config: readPortalConfig(this.node, props.oidcIssuer),
      ...(props.contentDirectory === undefined ? {} : { contentDirectory: props.contentDirectory }),
    });
    new CfnOutput(this, 'PortalUrl', { value: this.site.url, description: 'The employee portal (the API is also under /v1/ here)' });
  }
}

// What bin/app.ts does, as a function the infra tests call: read the environment from context,
// build the stack, and register the cdk-nag packs that run at every synth.

import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks } from 'cdk-nag';
import { ConsentCaptureStack, ContextError } from './consent-capture-stack.js';
import { ConsentCapturePortalStack } from './portal-stack.js';

/** The stack's id, and so its default CloudFormation stack name. */
export const STACK_ID = 'ConsentCapture';
/** The employee portal's stack (lib/portal-stack.ts). */
export const PORTAL_STACK_ID = 'ConsentCapturePortal';

/**
 * Environment-agnostic unless both `account` and `region` are given, so `cdk synth` needs no
 * credentials, account lookup or network. One without the other is refused: a stack pinned to an
 * account but not a Region (or the reverse) is never what a deployer meant.
 */
export function readEnvironment(app: App): { account: string; region: string } | undefined {
  const account = contextString(app, 'account');
  const region = contextString(app, 'region');
  if (account === undefined && region === undefined) return undefined;
  if (account === undefined || region === undefined) {
    const [given, missing] = account === undefined ? ['region', 'account'] : ['account', 'region'];
    throw new ContextError(
      `context "${given}" was given without "${missing}": pin the environment with both (-c account=123456789012 -c region=eu-west-1) or neither`,
    );
  }
  if (!/^\d{12}$/.test(account)) {
    throw new ContextError(`context "account" must be a 12-digit AWS account id, got ${JSON.stringify(account)}: e.g. -c account=123456789012`);
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new ContextError(`context "region" must be an AWS Region name, got ${JSON.stringify(region)}: e.g. -c region=eu-west-1`);
  }
  return { account, region };
}

function contextString(app: App, key: string): string | undefined {
  const value = app.node.tryGetContext(key) as unknown;
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new ContextError(`context "${key}" must be a string, got ${JSON.stringify(value)}: set it with -c ${key}=<value>`);
  }
  return String(value).trim();
}

/** Builds the consent-capture stack into `app` and registers the nag packs. Throws ContextError for the deployer to fix. */
export function buildConsentCaptureApp(app: App, options: { portalContentDirectory?: string } = {}): ConsentCaptureStack {
  const env = readEnvironment(app);
  const stack = new ConsentCaptureStack(app, STACK_ID, env === undefined ? {} : { env });
  new ConsentCapturePortalStack(app, PORTAL_STACK_ID, {
    ...(env === undefined ? {} : { env }),
    api: stack.httpApi.api,
    oidcIssuer: stack.settings.oidcIssuer,
    ...(options.portalContentDirectory === undefined ? {} : { contentDirectory: options.portalContentDirectory }),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app), new NIST80053R5Checks(app));
  return stack;
}

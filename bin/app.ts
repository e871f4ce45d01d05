// The CDK app: builds the consent-capture stack and runs cdk-nag (AWS Solutions and Serverless
// rule packs) on it at synth. Settings are CDK context; see lib/consent-capture-stack.ts.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ConsentCaptureStack, ContextError } from '../lib/consent-capture-stack.js';

const app = new App();

// Environment-agnostic unless both are given (-c account=123456789012 -c region=eu-west-1), so
// `cdk synth` needs no credentials, account lookup or network.
const account = app.node.tryGetContext('account') as string | undefined;
const region = app.node.tryGetContext('region') as string | undefined;

try {
  new ConsentCaptureStack(app, 'ConsentCapture', account && region ? { env: { account, region } } : {});
} catch (error) {
  // A missing or bad context value is the deployer's to fix: say what, without a stack trace.
  if (!(error instanceof ContextError)) throw error;
  console.error(`consent-capture: ${error.message}`);
  process.exit(1);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));

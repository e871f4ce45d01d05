// The CDK app: builds the consent-capture stack and runs cdk-nag (AWS Solutions, Serverless and
// NIST 800-53 R5 rule packs) on it at synth. Settings are CDK context; see lib/consent-capture-stack.ts.

import { App } from 'aws-cdk-lib';
import { buildPortal } from '../local/portal-build.js';
import { DEFAULT_PORTAL_DIR } from '../local/portal-files.js';
import { buildConsentCaptureApp } from '../lib/consent-capture-app.js';
import { ContextError } from '../lib/consent-capture-stack.js';

const app = new App();

try {
  // The employee portal ships with every deploy: built here when its sources changed.
  await buildPortal();
  buildConsentCaptureApp(app, { portalContentDirectory: DEFAULT_PORTAL_DIR });
} catch (error) {
  // A missing or bad context value is the deployer's to fix: say what, without a stack trace.
  if (!(error instanceof ContextError)) throw error;
  console.error(`consent-capture: ${error.message}`);
  process.exit(1);
}

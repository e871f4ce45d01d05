// Test-only bridge to the core engine of @cloud-copilot/iam-simulate (AGPL-3.0): never import it from shipped code.
import { loadPolicy } from '@cloud-copilot/iam-policy';
// runSimulation drops kms:EncryptionContext:* keys, so this calls the core engine runSimulation builds on. The package
// exports only its top-level API, hence the deep paths.
import {
  analyzeIdentityPolicies,
  analyzeResourcePolicy,
  type SimulationParameters,
} from '../../node_modules/@cloud-copilot/iam-simulate/dist/esm/core_engine/CoreSimulatorEngine.js';
import { DiscoveryContextKeyConstraints } from '../../node_modules/@cloud-copilot/iam-simulate/dist/esm/context_keys/discoveryContextKeyConstraints.js';
import { AwsRequestImpl } from '../../node_modules/@cloud-copilot/iam-simulate/dist/esm/request/request.js';
import { RequestContextImpl } from '../../node_modules/@cloud-copilot/iam-simulate/dist/esm/requestContext.js';
import type { Decision, EvaluationRequest, ResourcePolicyDecision } from '../../local/kms/policy-evaluator.js';

/** Strict mode evaluates every condition against the concrete context, as AWS does at request time. */
const STRICT: SimulationParameters = {
  simulationMode: 'Strict',
  discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]),
};

const DIRECT_MATCHES = new Set(['Match', 'SessionRoleMatch', 'SessionUserMatch']);

function toSimulatorRequest(request: EvaluationRequest): AwsRequestImpl {
  const accountOfResource = request.resource.split(':')[4] ?? '';
  // The simulator sees one principal string: the session when there is one, as STS would sign it.
  const principal = request.principal.sessionArn ?? request.principal.arn;
  const context: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(request.context)) context[key] = typeof value === 'string' ? value : [...value];
  return new AwsRequestImpl(principal, { resource: request.resource, accountId: accountOfResource }, request.action, new RequestContextImpl(context));
}

/** The simulator's verdict on a resource (key) policy, in our evaluator's terms. */
export function simulateResourcePolicy(policy: unknown, request: EvaluationRequest): ResourcePolicyDecision {
  const analysis = analyzeResourcePolicy(loadPolicy(policy as Parameters<typeof loadPolicy>[0], { name: 'key-policy' }), toSimulatorRequest(request), false, STRICT);
  if (analysis.result === 'ExplicitlyDenied' || analysis.result === 'DeniedForAccount') {
    return { decision: 'explicit-deny', allowedDirectly: false, allowedViaAccount: false };
  }
  const allowedDirectly = analysis.allowStatements.some((s) => DIRECT_MATCHES.has(s.principalMatch));
  const allowedViaAccount = analysis.allowStatements.some((s) => s.principalMatch === 'AccountLevelMatch');
  return { decision: allowedDirectly || allowedViaAccount ? 'allow' : 'implicit-deny', allowedDirectly, allowedViaAccount };
}

/** The simulator's verdict on a set of identity policies. */
export function simulateIdentityPolicies(policies: readonly unknown[], request: EvaluationRequest): Decision {
  const loaded = policies.map((p, i) => loadPolicy(p as Parameters<typeof loadPolicy>[0], { name: `identity-${i}` }));
  const analysis = analyzeIdentityPolicies(loaded, toSimulatorRequest(request), STRICT, 'identity');
  if (analysis.result === 'ExplicitlyDenied') return 'explicit-deny';
  return analysis.result === 'Allowed' ? 'allow' : 'implicit-deny';
}

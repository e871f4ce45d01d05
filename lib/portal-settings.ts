// The portal's sign-in settings from CDK context: where the company's identity provider takes the
// authorization request and the token request, and the portal's OAuth client id. The defaults
// suit an issuer that serves `authorize` and `token` under its own URL; set them for any other.
import type { Node } from 'constructs';
import type { PortalConfig } from '../contract/portal.js';
import { ContextError } from './consent-capture-stack.js';

export const PORTAL_CONTEXT_KEYS = {
  clientId: 'portalClientId',
  authorizationEndpoint: 'portalAuthorizationEndpoint',
  tokenEndpoint: 'portalTokenEndpoint',
} as const;

/** The portal's OAuth client id unless context says otherwise; the same as the local issuer's. */
export const DEFAULT_PORTAL_CLIENT_ID = 'consent-capture-portal';

function httpsUrl(node: Node, key: string, fallback: string): string {
  const value = node.tryGetContext(key) as unknown;
  const text = value === undefined || value === null || value === '' ? fallback : String(value);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:') {
    throw new ContextError(`context "${key}" must be an https URL, got ${JSON.stringify(text)}: set it to your identity provider's endpoint, e.g. -c ${key}=https://login.example.com/oauth2/v2.0/${key === PORTAL_CONTEXT_KEYS.tokenEndpoint ? 'token' : 'authorize'}`);
  }
  return url.toString();
}

/** What the deployed `/config.json` says; `issuer` is the API's JWT issuer (the tokens' `iss`). */
export function readPortalConfig(node: Node, issuer: string): PortalConfig {
  const base = issuer.endsWith('/') ? issuer : `${issuer}/`;
  const clientId = node.tryGetContext(PORTAL_CONTEXT_KEYS.clientId) as unknown;
  if (clientId !== undefined && (typeof clientId !== 'string' || !/^[\w.:-]{1,128}$/.test(clientId))) {
    throw new ContextError(`context "${PORTAL_CONTEXT_KEYS.clientId}" must be an OAuth client id (letters, digits, . : _ -), got ${JSON.stringify(clientId)}`);
  }
  return {
    issuer,
    authorizationEndpoint: httpsUrl(node, PORTAL_CONTEXT_KEYS.authorizationEndpoint, `${base}authorize`),
    tokenEndpoint: httpsUrl(node, PORTAL_CONTEXT_KEYS.tokenEndpoint, `${base}token`),
    clientId: typeof clientId === 'string' ? clientId : DEFAULT_PORTAL_CLIENT_ID,
    scope: 'openid consent:manage',
  };
}

// The employee portal's serving contract, declared once: the security headers CloudFront adds in
// AWS and the local stack adds on 127.0.0.1, and the sign-in configuration the page reads from
// `/config.json` (the company's identity provider in AWS, the local issuer locally).

/** What `/config.json` holds: where the page signs in, as which OAuth client. */
export interface PortalConfig {
  /** The issuer identifier (`iss` of the tokens). */
  readonly issuer: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  /** Space-separated scopes the page asks for. */
  readonly scope: string;
}

/**
 * The Content-Security-Policy: scripts and styles only from the page's own origin (no inline
 * script, no eval), API calls to the same origin, the token endpoint's origin when the identity
 * provider lives elsewhere, and no framing.
 */
export function portalContentSecurityPolicy(tokenEndpointOrigin?: string): string {
  const connect = ["'self'", ...(tokenEndpointOrigin === undefined ? [] : [tokenEndpointOrigin])];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect.join(' ')}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** HSTS for two years; only meaningful over HTTPS (CloudFront), harmless on 127.0.0.1. */
export const PORTAL_HSTS_SECONDS = 63_072_000;

/** Every header the portal's answers carry, by lowercase name. */
export function portalSecurityHeaders(tokenEndpointOrigin?: string): Record<string, string> {
  return {
    'content-security-policy': portalContentSecurityPolicy(tokenEndpointOrigin),
    'strict-transport-security': `max-age=${PORTAL_HSTS_SECONDS}; includeSubDomains`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
}

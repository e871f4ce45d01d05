// The shipped Okta authorization server (deploy/idp/okta-authorization-server.json) against the
// route table: it defines exactly the scopes the routes require, signs with RS256 (API Gateway's
// JWT authorizer accepts only RSA), and grants each client only its own scope.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { API_ROUTES } from '../../contract/routes.js';
import { API_SCOPES } from '../../contract/vocabulary.js';

const Rule = z.object({
  name: z.string(),
  conditions: z.object({
    grantTypes: z.object({ include: z.array(z.string()).min(1) }),
    people: z.object({ groups: z.object({ include: z.array(z.string()).min(1) }) }),
    scopes: z.object({ include: z.array(z.string()).min(1) }),
  }),
});
const OktaAuthorizationServer = z.object({
  authorizationServer: z.object({ name: z.string(), audiences: z.array(z.string()).min(1) }),
  tokenSigning: z.object({ alg: z.string() }),
  scopes: z.array(z.object({ name: z.string() })),
  claims: z.array(z.object({ name: z.string(), claimType: z.string(), valueType: z.string(), value: z.string() })),
  policies: z.array(z.object({ name: z.string(), rules: z.array(Rule).min(1) })),
});
type Config = z.infer<typeof OktaAuthorizationServer>;

const config: Config = OktaAuthorizationServer.parse(JSON.parse(readFileSync(new URL('../../deploy/idp/okta-authorization-server.json', import.meta.url), 'utf8')));

function rulesOf(policyName: string): z.infer<typeof Rule>[] {
  const policy = config.policies.find((p) => p.name === policyName);
  if (policy === undefined) throw new Error(`no policy named ${policyName}`);
  return policy.rules;
}

const grantedScopes = (policyName: string): string[] => [...new Set(rulesOf(policyName).flatMap((r) => r.conditions.scopes.include))].sort();

describe('Okta authorization server for consent-capture', () => {
  it('defines exactly the scopes the route table requires', () => {
    const routeScopes = [...new Set(API_ROUTES.flatMap((route) => route.scopes))].sort();
    const defined = config.scopes.map((s) => s.name).sort();
    expect(defined).toEqual(routeScopes);
    expect(defined).toEqual([...API_SCOPES].sort());
  });

  it('signs access tokens with RS256, the only family API Gateway verifies', () => {
    expect(config.tokenSigning.alg).toBe('RS256');
  });

  it('grants only defined scopes, and every defined scope through some rule', () => {
    const granted = config.policies.flatMap((p) => p.rules.flatMap((r) => r.conditions.scopes.include));
    expect(granted.filter((s) => !(API_SCOPES as readonly string[]).includes(s))).toEqual([]);
    expect([...new Set(granted)].sort()).toEqual([...API_SCOPES].sort());
  });

  it('gives each client its own scope and no other: HR can erase but never manage consent', () => {
    expect(grantedScopes('Employee portal')).toEqual(['consent:manage']);
    expect(grantedScopes('Capture agent')).toEqual(['capture:write']);
    expect(grantedScopes('HR offboarding')).toEqual(['capture:offboard']);
    expect(grantedScopes('ML platform')).toEqual(['datasets:build']);
  });

  it('issues agent tokens only for a signed-in employee (device grant), never to the client alone', () => {
    const grants = rulesOf('Capture agent').flatMap((r) => r.conditions.grantTypes.include);
    expect(grants).toContain('urn:ietf:params:oauth:grant-type:device_code');
    expect(grants).not.toContain('client_credentials');
    // No rule anywhere lets a client obtain a token with no user behind it.
    expect(config.policies.flatMap((p) => p.rules.flatMap((r) => r.conditions.grantTypes.include))).not.toContain('client_credentials');
  });

  it('puts a pseudonymous employee id in the access token, not a name, email or login', () => {
    const claim = config.claims.find((c) => c.name === 'employee_id');
    expect(claim).toMatchObject({ claimType: 'RESOURCE', valueType: 'EXPRESSION' });
    expect(claim?.value).toMatch(/^user\.profile\.[A-Za-z]+$/);
    expect(claim?.value).not.toMatch(/email|login|name|upn/i);
  });
});

// callerOf (through identityOf): the scopes a handler re-checks, in every form an identity provider's access token
// reaches the function through API Gateway v2's JWT authorizer (Cognito/local `scope`, Entra ID
// `scp` as a string, Okta `scp` as a list flattened to "[a b]"), and nothing read from elsewhere.
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { callerOf, requireScope, scopesOfClaim } from '../../lambdas/shared/http.js';

type Claims = Record<string, string | number | boolean | string[]>;

function eventWith(claims: Claims, scopes?: string[]): APIGatewayProxyEventV2WithJWTAuthorizer {
  return {
    requestContext: { authorizer: { jwt: { claims: { iss: 'https://issuer.example', sub: 'e-42', ...claims }, ...(scopes === undefined ? {} : { scopes }) } } },
  } as unknown as APIGatewayProxyEventV2WithJWTAuthorizer;
}

const scopesOf = (claims: Claims, scopes?: string[]): string[] => [...callerOf(eventWith(claims, scopes), 'sub').scopes].sort();

describe('callerOf reads scopes', () => {
  it('from a space-separated `scope` claim (local issuer, Cognito)', () => {
    expect(scopesOf({ scope: 'consent:manage capture:write' })).toEqual(['capture:write', 'consent:manage']);
  });

  it("from Entra ID's `scp`, a space-separated string", () => {
    expect(scopesOf({ scp: 'consent:manage capture:write' })).toEqual(['capture:write', 'consent:manage']);
  });

  it("from Okta's `scp` list as API Gateway v2 flattens it: \"[a b]\"", () => {
    expect(scopesOf({ scp: '[consent:manage capture:offboard]' })).toEqual(['capture:offboard', 'consent:manage']);
  });

  it('from a one-element Okta list, "[a]"', () => {
    expect(scopesOf({ scp: '[capture:write]' })).toEqual(['capture:write']);
  });

  it('from `scp` as a real array (a direct invocation)', () => {
    expect(scopesOf({ scp: ['capture:write', 'consent:manage'] })).toEqual(['capture:write', 'consent:manage']);
  });

  it("from API Gateway's `jwt.scopes` when present, together with the claims", () => {
    expect(scopesOf({ scope: 'capture:write' }, ['consent:manage'])).toEqual(['capture:write', 'consent:manage']);
  });

  it('from `scope` and `scp` together (their union)', () => {
    expect(scopesOf({ scope: 'capture:write', scp: '[consent:manage]' })).toEqual(['capture:write', 'consent:manage']);
  });
});

describe('callerOf grants nothing it cannot read', () => {
  it('reads no scope from an empty list, a number, a boolean or another claim name', () => {
    expect(scopesOf({ scp: '[]' })).toEqual([]);
    expect(scopesOf({ scp: 7, scope: true })).toEqual([]);
    expect(scopesOf({ scopes: 'consent:manage', roles: 'consent:manage' })).toEqual([]);
  });

  it('makes requireScope refuse (403) a token whose only scope sits in an unread claim', () => {
    const caller = callerOf(eventWith({ roles: 'capture:offboard' }), 'sub');
    expect(() => requireScope(caller, 'capture:offboard')).toThrow(/capture:offboard/);
  });

  it("lets requireScope accept an Okta token's scope from the flattened list", () => {
    const caller = callerOf(eventWith({ scp: '[capture:offboard]' }), 'sub');
    expect(() => requireScope(caller, 'capture:offboard')).not.toThrow();
  });

  it('does not take "[capture:write" with one bracket as a list, so no scope is guessed from it', () => {
    expect(scopesOfClaim('[capture:write')).toEqual(['[capture:write']);
  });
});

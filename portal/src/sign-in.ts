// Sign-in with the company's identity provider: OIDC authorization code with PKCE, through
// oauth4webapi. The tokens live in memory only (a reload signs in again); what survives the
// redirect in sessionStorage is the one-time PKCE verifier, state and nonce, deleted on return.
import * as oauth from 'oauth4webapi';
import type { PortalConfig } from '../../contract/portal.js';

export interface Session {
  readonly accessToken: string;
  /** The employee id (`sub`), as the API reads it from the access token. */
  readonly employeeId: string;
  readonly expiresAt: number;
}

/** A sign-in that failed, in words for the employee. */
export class SignInError extends Error {
  override readonly name = 'SignInError';
}

const PENDING_KEY = 'consent-capture.pending-sign-in';

interface PendingSignIn {
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
}

export async function loadConfig(): Promise<PortalConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new SignInError('The sign-in settings could not be loaded. Try again in a minute.');
  return (await response.json()) as PortalConfig;
}

function serverOf(config: PortalConfig): oauth.AuthorizationServer {
  return { issuer: config.issuer, authorization_endpoint: config.authorizationEndpoint, token_endpoint: config.tokenEndpoint };
}

function redirectUri(): string {
  return `${location.origin}/`;
}

/** Plain HTTP is allowed only for the local stack on 127.0.0.1; in AWS everything is HTTPS. */
function requestOptions(config: PortalConfig): { [oauth.allowInsecureRequests]?: boolean } {
  const local = new URL(config.tokenEndpoint).hostname === '127.0.0.1' && location.hostname === '127.0.0.1';
  return local ? { [oauth.allowInsecureRequests]: true } : {};
}

export async function beginSignIn(config: PortalConfig): Promise<void> {
  const pending: PendingSignIn = { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce() };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(config.authorizationEndpoint);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', config.scope);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(pending.verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', pending.state);
  url.searchParams.set('nonce', pending.nonce);
  location.assign(url.toString());
}

/** Finishes a sign-in when the page is the redirect's target; undefined when it is not. */
export async function completeSignIn(config: PortalConfig, current: URL): Promise<Session | undefined> {
  if (!current.searchParams.has('code') && !current.searchParams.has('error')) return undefined;
  const stored = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', '/');
  if (stored === null) throw new SignInError('This sign-in link was already used or has expired. Sign in again.');
  const pending = JSON.parse(stored) as PendingSignIn;
  const as = serverOf(config);
  const client: oauth.Client = { client_id: config.clientId };
  try {
    const params = oauth.validateAuthResponse(as, client, current, pending.state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri(), pending.verifier, requestOptions(config));
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: pending.nonce, requireIdToken: true });
    const claims = oauth.getValidatedIdTokenClaims(result);
    if (claims === undefined) throw new SignInError('The identity provider did not say who you are. Sign in again.');
    return { accessToken: result.access_token, employeeId: claims.sub, expiresAt: Date.now() + (result.expires_in ?? 3600) * 1000 };
  } catch (error) {
    if (error instanceof SignInError) throw error;
    if (error instanceof oauth.AuthorizationResponseError) throw new SignInError('The sign-in was cancelled or refused. Sign in again.');
    throw new SignInError('The sign-in could not be completed. Sign in again.');
  }
}

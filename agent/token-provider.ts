// Where the agent's bearer token comes from: a pluggable provider. The default for a real device is
// the OAuth 2.0 device authorization grant (RFC 8628) against the corporate IdP; locally, the
// stack's issuer through `npm run token`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface TokenProvider {
  /** A valid access token with the capture:write scope. */
  token(): Promise<string>;
  /** The API refused the token (401): drop any cached one. */
  invalidate(): void;
}

/** Caches a token until shortly before its `exp`. */
abstract class CachingProvider implements TokenProvider {
  private cached: { token: string; expiresAt: number } | undefined;
  protected abstract fetchToken(): Promise<{ token: string; expiresInSeconds: number }>;

  async token(): Promise<string> {
    if (this.cached !== undefined && Date.now() < this.cached.expiresAt) return this.cached.token;
    const fresh = await this.fetchToken();
    this.cached = { token: fresh.token, expiresAt: Date.now() + Math.max(0, fresh.expiresInSeconds - 30) * 1000 };
    return fresh.token;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}

function expiresIn(jwt: string): number {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : 60;
  } catch {
    return 60;
  }
}

/** The local stack's issuer: `npm run --silent token -- --employee <id> --scope capture:write`. */
export class LocalTokenProvider extends CachingProvider {
  constructor(
    private readonly employeeId: string,
    private readonly cwd: string,
  ) {
    super();
  }

  protected async fetchToken(): Promise<{ token: string; expiresInSeconds: number }> {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'token', '--', '--employee', this.employeeId, '--scope', 'capture:write', '--ttl', '3600'], { cwd: this.cwd });
    const token = stdout.trim();
    return { token, expiresInSeconds: expiresIn(token) };
  }
}

/** A fixed or externally managed token (tests, or an app that already holds one). */
export class FunctionTokenProvider extends CachingProvider {
  constructor(private readonly mint: () => Promise<string>) {
    super();
  }

  protected async fetchToken(): Promise<{ token: string; expiresInSeconds: number }> {
    const token = await this.mint();
    return { token, expiresInSeconds: expiresIn(token) };
  }
}

export interface DeviceCodeOptions {
  /** The IdP's device authorization endpoint and token endpoint (from its OIDC discovery document). */
  readonly deviceAuthorizationEndpoint: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  /** @default 'capture:write offline_access' */
  readonly scope?: string;
  /** Shows the employee where to go and what to type. */
  readonly prompt: (verificationUri: string, userCode: string) => void;
}

/** RFC 8628: show a code, poll the token endpoint at the IdP's interval, then refresh with the refresh token. */
export class DeviceCodeTokenProvider extends CachingProvider {
  private refreshToken: string | undefined;

  constructor(private readonly options: DeviceCodeOptions) {
    super();
  }

  protected async fetchToken(): Promise<{ token: string; expiresInSeconds: number }> {
    if (this.refreshToken !== undefined) {
      const refreshed = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: this.refreshToken });
      if ('access_token' in refreshed) return this.accept(refreshed);
      this.refreshToken = undefined;
    }
    const start = await this.form(this.options.deviceAuthorizationEndpoint, { client_id: this.options.clientId, scope: this.options.scope ?? 'capture:write offline_access' });
    const deviceCode = String(start['device_code'] ?? '');
    this.options.prompt(String(start['verification_uri_complete'] ?? start['verification_uri'] ?? ''), String(start['user_code'] ?? ''));
    let intervalMs = Number(start['interval'] ?? 5) * 1000;
    const deadline = Date.now() + Number(start['expires_in'] ?? 600) * 1000;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      const answer = await this.tokenRequest({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode });
      if ('access_token' in answer) return this.accept(answer);
      if (answer['error'] === 'slow_down') intervalMs += 5000;
      else if (answer['error'] !== 'authorization_pending') throw new Error(`device authorization failed: ${String(answer['error']).slice(0, 60)}`);
    }
    throw new Error('device authorization expired before the employee approved it');
  }

  private accept(answer: Record<string, unknown>): { token: string; expiresInSeconds: number } {
    if (typeof answer['refresh_token'] === 'string') this.refreshToken = answer['refresh_token'];
    return { token: String(answer['access_token']), expiresInSeconds: Number(answer['expires_in'] ?? 300) };
  }

  private tokenRequest(fields: Record<string, string>): Promise<Record<string, unknown>> {
    return this.form(this.options.tokenEndpoint, { ...fields, client_id: this.options.clientId });
  }

  private async form(url: string, fields: Record<string, string>): Promise<Record<string, unknown>> {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
    return (await response.json()) as Record<string, unknown>;
  }
}

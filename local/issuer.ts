// The local stack's JWT issuer: one RS256 (RSA 2048) key pair, generated on first start into
// `.local/issuer.json` (mode 0600), that `npm run token` signs with and the local gateway trusts,
// as API Gateway's JWT authorizer trusts the corporate OIDC issuer in AWS. RS256 because an HTTP
// API's JWT authorizer verifies only RSA signatures: a token the local stack accepts must be one
// AWS would accept too.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';

/** Not a reachable URL: the local issuer publishes no discovery document; the gateway reads the key from disk. */
export const LOCAL_ISSUER = 'http://127.0.0.1/consent-capture-local';
export const LOCAL_AUDIENCE = 'consent-capture';
/** The one algorithm the local issuer signs with and the local gateway accepts. */
export const ISSUER_ALG = 'RS256';
const ALG = ISSUER_ALG;
const RSA_MODULUS_BITS = 2048;

interface IssuerFile {
  readonly issuer: string;
  readonly audience: string;
  readonly alg: typeof ALG;
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export interface MintOptions {
  /** The employee id, as the `sub` claim. */
  readonly subject: string;
  /** Space-separated scopes, as the `scope` claim. */
  readonly scope: string;
  /** Seconds from now; zero or negative mints an already expired token (for tests). @default 3600 */
  readonly ttlSeconds?: number;
  /** Further claims; they cannot replace iss, aud, sub, scope, iat or exp. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** @default - LOCAL_ISSUER; tests override it to mint a token from a foreign issuer */
  readonly issuer?: string;
  /** @default - LOCAL_AUDIENCE */
  readonly audience?: string;
}

export interface LocalIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly kid: string;
  mint(options: MintOptions): Promise<string>;
  /** Verifies signature, algorithm, issuer, audience and lifetime; throws jose's errors. */
  verify(token: string): Promise<JWTPayload>;
}

export class IssuerMissingError extends Error {
  override readonly name = 'IssuerMissingError';
}

export function issuerFileOf(localDir: string): string {
  return join(localDir, 'issuer.json');
}

async function fromFile(file: IssuerFile): Promise<LocalIssuer> {
  const privateKey = await importJWK(file.privateJwk, ALG);
  const publicKey = await importJWK(file.publicJwk, ALG);
  return {
    issuer: file.issuer,
    audience: file.audience,
    kid: file.kid,
    async mint(options) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ ...options.claims, scope: options.scope })
        .setProtectedHeader({ alg: ALG, kid: file.kid, typ: 'JWT' })
        .setIssuer(options.issuer ?? file.issuer)
        .setAudience(options.audience ?? file.audience)
        .setSubject(options.subject)
        .setIssuedAt(now)
        .setExpirationTime(now + (options.ttlSeconds ?? 3600))
        .setJti(randomUUID())
        .sign(privateKey);
    },
    async verify(token) {
      const { payload } = await jwtVerify(token, publicKey, {
        issuer: file.issuer,
        audience: file.audience,
        algorithms: [ALG],
        // API Gateway's JWT authorizer rejects tokens without an expiry.
        requiredClaims: ['exp'],
      });
      return payload;
    },
  };
}

/** Reads the issuer `npm start` created; tools use this and never create one. */
export async function loadIssuer(localDir: string): Promise<LocalIssuer> {
  const file = issuerFileOf(localDir);
  if (!existsSync(file)) throw new IssuerMissingError(`no local issuer at ${file}: run \`npm start\` first (it creates one)`);
  if (!isCurrent(file)) throw new IssuerMissingError(`the local issuer at ${file} is not an ${ALG} key (an older version made it): restart \`npm start\`, which replaces it`);
  return fromFile(JSON.parse(readFileSync(file, 'utf8')) as IssuerFile);
}

/** Whether an issuer file on disk is one this version can use (older `.local` dirs hold ES256 keys). */
function isCurrent(file: string): boolean {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<IssuerFile>;
    return parsed.alg === ALG && parsed.privateJwk?.kty === 'RSA' && parsed.publicJwk?.kty === 'RSA';
  } catch {
    return false;
  }
}

/**
 * Loads the issuer, or creates one. An issuer file with another algorithm (an ES256 key from an
 * older version) is replaced: tokens it signed stop working, which is what a key rotation does.
 */
export async function loadOrCreateIssuer(localDir: string): Promise<LocalIssuer> {
  const file = issuerFileOf(localDir);
  if (existsSync(file) && isCurrent(file)) return loadIssuer(localDir);
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: RSA_MODULUS_BITS });
  const kid = randomUUID();
  const contents: IssuerFile = {
    issuer: LOCAL_ISSUER,
    audience: LOCAL_AUDIENCE,
    alg: ALG,
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: ALG },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: ALG },
  };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return fromFile(contents);
}

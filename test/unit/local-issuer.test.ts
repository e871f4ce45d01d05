// The local token issuer: RS256 keys as API Gateway's HTTP API JWT authorizer accepts them, and
// the replacement of an issuer file that an older version wrote with an ES256 key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { IssuerMissingError, issuerFileOf, LOCAL_AUDIENCE, LOCAL_ISSUER, loadIssuer, loadOrCreateIssuer } from '../../local/issuer.js';

const dirs: string[] = [];
const freshDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-issuer-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** What issuer.json looked like before this version: an ES256 key pair. */
async function writeLegacyEs256Issuer(dir: string): Promise<Awaited<ReturnType<typeof generateKeyPair>>['privateKey']> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = 'legacy-kid';
  const file = { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, alg: 'ES256', kid, privateJwk: { ...(await exportJWK(privateKey)), kid }, publicJwk: { ...(await exportJWK(publicKey)), kid } };
  writeFileSync(issuerFileOf(dir), JSON.stringify(file));
  return privateKey;
}

describe('local issuer', () => {
  it('creates an RSA 2048 key and signs RS256 tokens that it verifies', async () => {
    const dir = freshDir();

    const issuer = await loadOrCreateIssuer(dir);
    const token = await issuer.mint({ subject: 'e-1', scope: 'consent:manage' });

    const stored = JSON.parse(readFileSync(issuerFileOf(dir), 'utf8')) as { alg: string; publicJwk: { kty: string; n: string } };
    expect(stored.alg).toBe('RS256');
    expect(stored.publicJwk.kty).toBe('RSA');
    expect(Buffer.from(stored.publicJwk.n, 'base64url').length * 8).toBe(2048);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: issuer.kid });
    await expect(issuer.verify(token)).resolves.toMatchObject({ sub: 'e-1', scope: 'consent:manage' });
  });

  it('keeps the key across starts', async () => {
    const dir = freshDir();
    const first = await loadOrCreateIssuer(dir);
    const token = await first.mint({ subject: 'e-1', scope: 'consent:manage' });

    const second = await loadOrCreateIssuer(dir);

    expect(second.kid).toBe(first.kid);
    await expect(second.verify(token)).resolves.toMatchObject({ sub: 'e-1' });
  });

  it('replaces an ES256 issuer file left by an older version, and no longer accepts its tokens', async () => {
    const dir = freshDir();
    const oldKey = await writeLegacyEs256Issuer(dir);
    const now = Math.floor(Date.now() / 1000);
    const oldToken = await new SignJWT({ scope: 'consent:manage' })
      .setProtectedHeader({ alg: 'ES256', kid: 'legacy-kid' })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .setSubject('e-1')
      .setExpirationTime(now + 300)
      .sign(oldKey);

    const issuer = await loadOrCreateIssuer(dir);

    expect(JSON.parse(readFileSync(issuerFileOf(dir), 'utf8'))).toMatchObject({ alg: 'RS256' });
    expect(issuer.kid).not.toBe('legacy-kid');
    await expect(issuer.verify(oldToken)).rejects.toThrow();
  });

  it('tells a tool (npm run token) to restart npm start when the issuer file is an old ES256 one', async () => {
    const dir = freshDir();
    await writeLegacyEs256Issuer(dir);

    const loading = loadIssuer(dir);

    await expect(loading).rejects.toBeInstanceOf(IssuerMissingError);
    await expect(loading).rejects.toThrow(/not an RS256 key.*restart `npm start`/);
  });
});

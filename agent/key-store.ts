// Where the queue's encryption key lives. The OS keychain (macOS Keychain, Windows Credential
// Manager, libsecret) through the optional `@napi-rs/keyring` package when it is installed and
// answers; otherwise a 0600 key file beside the queue. The file is the documented gap: it keeps
// batches unreadable to other users and to a copied queue directory without the key file, not to
// someone who can read the user's files.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';

export interface QueueKey {
  readonly key: Buffer;
  readonly source: 'keychain' | 'file';
}

interface KeyringEntry {
  getPassword(): string | null | undefined;
  setPassword(password: string): void;
}

async function fromKeychain(account: string): Promise<Buffer | undefined> {
  try {
    const name = '@napi-rs/keyring';
    const keyring = (await import(name)) as { Entry: new (service: string, account: string) => KeyringEntry };
    const entry = new keyring.Entry('consent-capture-agent', account);
    const existing = entry.getPassword();
    if (typeof existing === 'string' && /^[A-Za-z0-9_-]{43}$/.test(existing)) return Buffer.from(existing, 'base64url');
    const key = randomBytes(32);
    entry.setPassword(key.toString('base64url'));
    return key;
  } catch {
    return undefined; // not installed, or no keychain service on this machine (a headless Linux box)
  }
}

/**
 * The key file is the user's alone: `mode` on a write applies only when the file is created, so a
 * file that already existed (a restored backup, a leftover of another tool) kept whatever mode it
 * had, and a key written into a 0644 file was readable by every user of the machine.
 */
function ownerOnly(path: string): void {
  if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
}

function fromFile(path: string): Buffer {
  try {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64url');
    if (key.length === 32) {
      ownerOnly(path);
      return key;
    }
  } catch {
    // absent: made below
  }
  const key = randomBytes(32);
  writeFileSync(path, key.toString('base64url'), { mode: 0o600 });
  ownerOnly(path);
  return key;
}

/** The keychain's key for `account` where there is one; else the key file at `fallbackPath`. */
export async function loadQueueKey(account: string, fallbackPath: string, options: { keychain?: boolean } = {}): Promise<QueueKey> {
  if (options.keychain !== false) {
    const key = await fromKeychain(account);
    if (key !== undefined) return { key, source: 'keychain' };
  }
  return { key: fromFile(fallbackPath), source: 'file' };
}

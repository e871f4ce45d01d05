// Durable state of the local KMS: keys (metadata, policy, tags, grants, key material) and aliases.
// One file per key, written atomically with mode 0600, so a crash never leaves a torn key and a
// change to one key never rewrites the others.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface StoredGrant {
  readonly grantId: string;
  readonly grantToken: string;
  readonly name?: string;
  readonly granteePrincipal: string;
  readonly retiringPrincipal?: string;
  readonly operations: readonly string[];
  readonly constraints?: {
    readonly encryptionContextSubset?: Readonly<Record<string, string>>;
    readonly encryptionContextEquals?: Readonly<Record<string, string>>;
  };
  readonly issuingAccount: string;
  readonly creationDate: number;
}

export interface StoredKey {
  readonly keyId: string;
  readonly arn: string;
  readonly accountId: string;
  readonly creationDate: number;
  description: string;
  keyState: KeyState;
  deletionDate?: number;
  pendingWindowInDays?: number;
  policy: string;
  tags: { TagKey: string; TagValue: string }[];
  rotation: { enabled: boolean; periodInDays: number; nextRotationDate?: number };
  /** Key material versions, base64; the ciphertext names the version it used. Never logged. */
  materials: string[];
  grants: StoredGrant[];
}

export interface StoredAlias {
  readonly aliasName: string;
  targetKeyId: string;
  readonly creationDate: number;
  lastUpdatedDate: number;
}

export class KeyStore {
  private readonly keys = new Map<string, StoredKey>();
  private readonly aliases = new Map<string, StoredAlias>();
  /** keyId → alias names, so a call's kms:ResourceAliases costs the same with 10 or 10,000 keys. */
  private readonly aliasesByKey = new Map<string, Set<string>>();
  private readonly keyDir: string;
  private readonly aliasFile: string;

  constructor(dir: string) {
    this.keyDir = join(dir, 'keys');
    this.aliasFile = join(dir, 'aliases.json');
    mkdirSync(this.keyDir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    for (const file of readdirSync(this.keyDir)) {
      if (!file.endsWith('.json')) continue;
      const key = JSON.parse(readFileSync(join(this.keyDir, file), 'utf8')) as StoredKey;
      this.keys.set(key.keyId, key);
    }
    if (existsSync(this.aliasFile)) {
      for (const alias of JSON.parse(readFileSync(this.aliasFile, 'utf8')) as StoredAlias[]) this.index(alias);
    }
  }

  static newMaterial(): string {
    return randomBytes(32).toString('base64');
  }

  getKey(keyId: string): StoredKey | undefined {
    return this.keys.get(keyId);
  }

  listKeys(): StoredKey[] {
    return [...this.keys.values()];
  }

  /** Persists a new or changed key. Callers mutate the object, then save it. */
  saveKey(key: StoredKey): void {
    this.keys.set(key.keyId, key);
    writeAtomically(join(this.keyDir, `${key.keyId}.json`), JSON.stringify(key));
  }

  /** Removes a key whose deletion date has passed, with its aliases. */
  deleteKey(keyId: string): void {
    this.keys.delete(keyId);
    rmSync(join(this.keyDir, `${keyId}.json`), { force: true });
    const names = [...(this.aliasesByKey.get(keyId) ?? [])];
    for (const name of names) this.unindex(name);
    if (names.length > 0) this.saveAliases();
  }

  getAlias(aliasName: string): StoredAlias | undefined {
    return this.aliases.get(aliasName);
  }

  listAliases(): StoredAlias[] {
    return [...this.aliases.values()];
  }

  aliasNamesOf(keyId: string): string[] {
    return [...(this.aliasesByKey.get(keyId) ?? [])];
  }

  putAlias(alias: StoredAlias): void {
    this.unindex(alias.aliasName);
    this.index(alias);
    this.saveAliases();
  }

  deleteAlias(aliasName: string): void {
    this.unindex(aliasName);
    this.saveAliases();
  }

  private index(alias: StoredAlias): void {
    this.aliases.set(alias.aliasName, alias);
    const names = this.aliasesByKey.get(alias.targetKeyId) ?? new Set<string>();
    names.add(alias.aliasName);
    this.aliasesByKey.set(alias.targetKeyId, names);
  }

  private unindex(aliasName: string): void {
    const alias = this.aliases.get(aliasName);
    if (!alias) return;
    this.aliases.delete(aliasName);
    this.aliasesByKey.get(alias.targetKeyId)?.delete(aliasName);
  }

  private saveAliases(): void {
    writeAtomically(this.aliasFile, JSON.stringify([...this.aliases.values()]));
  }
}

function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

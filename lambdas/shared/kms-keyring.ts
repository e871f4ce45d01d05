// The KMS keyring (and the message suite) every employee-key message uses: ingest seals with it,
// the export worker opens with it. The keyring is assembled from the Encryption SDK's modular packages.
// `@aws-crypto/client-node` ships only CommonJS, so esbuild cannot tree-shake it: it bundles every
// keyring (the hierarchical keyring's key store with a whole DynamoDB client, raw RSA, caching) and
// the aggregated `KMS` client with every KMS operation. This is the same class its
// `KmsKeyringNode` is (`KmsKeyringClass(KeyringNode)`), over a client that bundles three commands.
import { cacheClients, getClient, KmsKeyringClass } from '@aws-crypto/kms-keyring';
import { AlgorithmSuiteIdentifier, immutableClass, KeyringNode, type NodeAlgorithmSuite } from '@aws-crypto/material-management-node';
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  type DecryptCommandInput,
  type DecryptCommandOutput,
  type EncryptCommandInput,
  type EncryptCommandOutput,
  type GenerateDataKeyCommandInput,
  type GenerateDataKeyCommandOutput,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';

/**
 * The non-signing committing suite: key commitment protects against a ciphertext that decrypts
 * to different plaintexts under different keys; a signature would add an `aws-crypto-public-key`
 * context pair, which the key policy forbids, and would prove only that some ingest wrote it.
 */
export const ALGORITHM_SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;

/**
 * A KMS client with the three methods the keyring calls (v3 aggregated-client style), each one
 * command. Ingest's keyring only ever calls `generateDataKey` (a generator key and no other key
 * ids); `encrypt` and `decrypt` complete the interface for readers of what it wrote.
 */
export class KeyringKmsClient extends KMSClient {
  generateDataKey(input: GenerateDataKeyCommandInput): Promise<GenerateDataKeyCommandOutput> {
    return this.send(new GenerateDataKeyCommand(input));
  }

  encrypt(input: EncryptCommandInput): Promise<EncryptCommandOutput> {
    return this.send(new EncryptCommand(input));
  }

  decrypt(input: DecryptCommandInput): Promise<DecryptCommandOutput> {
    return this.send(new DecryptCommand(input));
  }
}

/**
 * `KmsKeyringNode` without its module-scope default clients. KeyringNode is abstract in its types;
 * the mixin supplies the abstract members, which is why the SDK's own class casts it the same way.
 */
export class KmsKeyring extends KmsKeyringClass<NodeAlgorithmSuite, KeyringKmsClient>(KeyringNode as unknown as new () => KeyringNode) {}
immutableClass(KmsKeyring);

/** A client class the keyring may construct per Region: KeyringKmsClient or a subclass (tests attach faults in one). */
export type KeyringKmsClientClass = new (config: KMSClientConfig) => KeyringKmsClient;

/**
 * Keyrings whose generator is the given key ARN. Clients are made per Region from the key ARN and
 * cached once KMS has answered, as the Encryption SDK's own `cacheClients(getClient(...))` does.
 */
export function kmsKeyrings(config: KMSClientConfig, Client: KeyringKmsClientClass = KeyringKmsClient): (keyArn: string) => KeyringNode {
  const clientProvider = cacheClients(getClient(Client, config));
  return (keyArn) => new KmsKeyring({ generatorKeyId: keyArn, clientProvider });
}

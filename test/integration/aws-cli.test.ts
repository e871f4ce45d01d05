// The AWS CLI (botocore: a second, independent SigV4 signer and JSON 1.1 client) against the local
// KMS: for the same principal, key and request, it must get the answer @aws-sdk/client-kms gets.
import { execFile, spawnSync, type ExecFileException } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateGrantCommand, DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrincipalName } from '../../local/principals.js';
import { applyState, createEmployeeKey } from '../support/employee-key.js';
import { startTestKms, type TestKms } from '../support/local-kms.js';

const execFileAsync = promisify(execFile);
const HOUR = 3_600_000;
const CLI_TIMEOUT_MS = 20_000;

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * A CLI environment with nothing of the caller's AWS setup: no config or credentials files, no
 * profile, no instance metadata, no pager. pyenv's shim needs its own variables to find Python.
 */
function cliEnv(home: string, credentials?: Credentials): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  for (const name of ['PYENV_ROOT', 'PYENV_VERSION']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  if (credentials) {
    env['AWS_ACCESS_KEY_ID'] = credentials.accessKeyId;
    env['AWS_SECRET_ACCESS_KEY'] = credentials.secretAccessKey;
  }
  return env;
}

/** The version line of the `aws` first on PATH, or why there is no usable one. */
function probeAwsCli(): { version: string } | { reason: string } {
  const result = spawnSync('aws', ['--version'], { encoding: 'utf8', timeout: CLI_TIMEOUT_MS, env: cliEnv(tmpdir()) });
  if (result.error) return { reason: `cannot run \`aws\` (${result.error.message})` };
  // v1 prints its version on stderr, v2 on stdout.
  const output = `${result.stdout}${result.stderr}`.trim();
  if (result.status !== 0) return { reason: `\`aws --version\` exited with ${result.status}: ${output.slice(0, 200)}` };
  return { version: output };
}

const probe = probeAwsCli();
const hasAws = 'version' in probe;
/** CI installs the AWS CLI (.ci/run), so there a missing `aws` is a failure, never a skip. */
const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';
const MISSING_CLI = hasAws
  ? ''
  : `${probe.reason}. Install the AWS CLI (v1 or v2, e.g. \`apt-get install awscli\`) and put \`aws\` on PATH to compare its allow/deny answers with the SDK.`;
if (!hasAws && !inCi) console.warn(`skipping the AWS CLI parity tests in test/integration/aws-cli.test.ts (CI would fail them): ${MISSING_CLI}`);

describe('the AWS CLI parity tests', () => {
  it.runIf(inCi)('run in CI: `aws` is installed there', () => {
    expect(hasAws, `CI=true but the AWS CLI parity tests cannot run: ${MISSING_CLI}`).toBe(true);
  });
});

/** 'allowed', or the error code KMS answered with. */
type Outcome = string;

interface CliResult {
  readonly outcome: Outcome;
  readonly exitCode: number;
  readonly json?: Record<string, unknown>;
}

describe.skipIf(!hasAws)(`the AWS CLI (${hasAws ? probe.version : 'absent'}) gets the SDK's answers`, () => {
  let kms: TestKms;
  let home: string;
  let activeKey: string;
  let pausedKey: string;
  let exportKey: string;
  const clients: KMSClient[] = [];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'cc-aws-cli-'));
    kms = await startTestKms();
    [activeKey, pausedKey, exportKey] = await Promise.all([
      createEmployeeKey(kms, { employeeId: 'e-42', status: 'active', scopes: ['clicks', 'keystrokes'] }),
      createEmployeeKey(kms, { employeeId: 'e-paused', status: 'active', scopes: ['clicks', 'keystrokes'] }),
      createEmployeeKey(kms, { employeeId: 'e-export', status: 'active', scopes: ['clicks', 'keystrokes'] }),
    ]);
    const pausedUntil = new Date(kms.clock.now().getTime() + HOUR).toISOString();
    await applyState(kms, pausedKey, { employeeId: 'e-paused', status: 'paused', scopes: ['clicks', 'keystrokes'], pausedUntil });
  });

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await kms?.close();
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  function credentialsOf(name: PrincipalName): Credentials {
    const { accessKeyId, secretAccessKey } = kms.identity.principals[name];
    return { accessKeyId, secretAccessKey };
  }

  /** Runs `aws kms <args>` against the local KMS only, as the given credentials. */
  async function aws(credentials: Credentials, args: readonly string[]): Promise<CliResult> {
    const argv = ['kms', ...args, '--endpoint-url', kms.url, '--region', kms.identity.region, '--output', 'json'];
    try {
      const { stdout } = await execFileAsync('aws', argv, { env: cliEnv(home, credentials), timeout: CLI_TIMEOUT_MS });
      return { outcome: 'allowed', exitCode: 0, json: JSON.parse(stdout) as Record<string, unknown> };
    } catch (error) {
      const failure = error as ExecFileException & { stderr?: string };
      if (failure.killed) throw new Error(`aws ${argv.slice(0, 2).join(' ')} did not finish within ${CLI_TIMEOUT_MS} ms`);
      const stderr = failure.stderr ?? '';
      const code = /An error occurred \(([A-Za-z]+)\) when calling the [A-Za-z]+ operation/.exec(stderr)?.[1];
      if (code === undefined) throw new Error(`aws ${argv.slice(0, 2).join(' ')} failed without a service error: ${stderr.slice(0, 500)}`);
      return { outcome: code, exitCode: typeof failure.code === 'number' ? failure.code : -1 };
    }
  }

  function sdkClient(credentials: Credentials): KMSClient {
    const client = new KMSClient({ endpoint: kms.url, region: kms.identity.region, credentials, maxAttempts: 1 });
    clients.push(client);
    return client;
  }

  async function sdkOutcome(promise: Promise<unknown>): Promise<Outcome> {
    try {
      await promise;
      return 'allowed';
    } catch (error) {
      return (error as Error).name;
    }
  }

  function contextOf(employeeId: string, scope: string): Record<string, string> {
    return { employeeId, scope, batchId: 'b-1' };
  }

  /** The CLI's shorthand for a string map: k=v,k=v. */
  function shorthand(map: Record<string, string>): string {
    return Object.entries(map)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }

  /** GenerateDataKey through the CLI and through the SDK, with the same principal, key and context. */
  function generateBoth(credentials: Credentials, keyId: string, context: Record<string, string>): Promise<[CliResult, Outcome]> {
    return Promise.all([
      aws(credentials, ['generate-data-key', '--key-id', keyId, '--number-of-bytes', '32', '--encryption-context', shorthand(context)]),
      sdkOutcome(sdkClient(credentials).send(new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 32, EncryptionContext: context }))),
    ]);
  }

  it.each([
    ['its key ARN', () => activeKey],
    ['its alias', () => 'alias/consent-capture/e-42'],
  ])('lets ingest GenerateDataKey with the consented context, by %s, in both', async (_label, keyId) => {
    // Act
    const [cli, sdk] = await generateBoth(credentialsOf('ingest'), keyId(), contextOf('e-42', 'clicks'));

    // Assert
    expect({ cli: cli.outcome, sdk }).toEqual({ cli: 'allowed', sdk: 'allowed' });
    expect(cli.json?.['KeyId']).toBe(activeKey);
    expect(Buffer.from(String(cli.json?.['Plaintext']), 'base64')).toHaveLength(32);
  });

  it.each([
    ['ingest with a scope not consented', 'ingest', () => activeKey, contextOf('e-42', 'app-focus')],
    ['admin (AdministratorAccess) with the consented context', 'admin', () => activeKey, contextOf('e-42', 'clicks')],
    ['ingest during a pause', 'ingest', () => pausedKey, contextOf('e-paused', 'clicks')],
  ] as const)('denies %s with AccessDeniedException in both', async (_label, principal, keyId, context) => {
    // Act
    const [cli, sdk] = await generateBoth(credentialsOf(principal), keyId(), context);

    // Assert
    expect({ cli: cli.outcome, sdk }).toEqual({ cli: 'AccessDeniedException', sdk: 'AccessDeniedException' });
    expect([254, 255]).toContain(cli.exitCode);
  });

  it.each([
    ['a wrong secret key', () => ({ ...credentialsOf('ingest'), secretAccessKey: 'not-the-secret-0000000000000000000000000' }), 'InvalidSignatureException'],
    ['an unknown access key id', () => ({ accessKeyId: 'ASIAUNKNOWNUNKNOWN00', secretAccessKey: credentialsOf('ingest').secretAccessKey }), 'UnrecognizedClientException'],
  ])('rejects %s with the same error code in both', async (_label, credentials, expected) => {
    // Act
    const [cli, sdk] = await generateBoth(credentials(), activeKey, contextOf('e-42', 'clicks'));

    // Assert
    expect({ cli: cli.outcome, sdk }).toEqual({ cli: expected, sdk: expected });
    expect([254, 255]).toContain(cli.exitCode);
  });

  it('decrypts a CLI-made data key as the export role through a grant, in both, and only with the grant', async () => {
    // Arrange: a data key made by the CLI, its blob in a file as `fileb://` wants it.
    const context = contextOf('e-export', 'clicks');
    const made = await aws(credentialsOf('ingest'), [
      'generate-data-key',
      '--key-id',
      exportKey,
      '--number-of-bytes',
      '32',
      '--encryption-context',
      shorthand(context),
    ]);
    expect(made.outcome).toBe('allowed');
    const blob = Buffer.from(String(made.json?.['CiphertextBlob']), 'base64');
    const dataKey = Buffer.from(String(made.json?.['Plaintext']), 'base64');
    const blobFile = join(home, 'e-export.blob');
    writeFileSync(blobFile, blob);
    const exporter = credentialsOf('export');
    const decryptBoth = (): Promise<[CliResult, Outcome]> =>
      Promise.all([
        aws(exporter, ['decrypt', '--ciphertext-blob', `fileb://${blobFile}`, '--encryption-context', shorthand(context)]),
        sdkOutcome(sdkClient(exporter).send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))),
      ]);
    const [cliBefore, sdkBefore] = await decryptBoth();

    // Act: the consent role mints the export grant, as an export job does.
    await kms.client('steward').send(
      new CreateGrantCommand({
        KeyId: exportKey,
        GranteePrincipal: kms.roles.export,
        RetiringPrincipal: kms.roles.export,
        Operations: ['Decrypt'],
        Constraints: { EncryptionContextSubset: { employeeId: 'e-export' } },
      }),
    );
    const [cliAfter, sdkAfter] = await decryptBoth();
    const sdkPlaintext = (await sdkClient(exporter).send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }))).Plaintext;

    // Assert
    expect({ cli: cliBefore.outcome, sdk: sdkBefore }).toEqual({ cli: 'AccessDeniedException', sdk: 'AccessDeniedException' });
    expect({ cli: cliAfter.outcome, sdk: sdkAfter }).toEqual({ cli: 'allowed', sdk: 'allowed' });
    expect(Buffer.from(String(cliAfter.json?.['Plaintext']), 'base64').equals(dataKey)).toBe(true);
    expect(Buffer.from(sdkPlaintext ?? new Uint8Array()).equals(dataKey)).toBe(true);
  });
});

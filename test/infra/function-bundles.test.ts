// The functions as Lambda receives them: the CDK app is synthesized with bundling on, so each
// asset is what lib/function-bundle.ts's esbuild options make of it. Checks each bundle's size against its
// budget, that it loads nothing from node_modules at run time (Lambda has none), and that the
// bundles themselves run a whole consent story on the local stack: grant, a sealed batch the
// export role decrypts, erase, purged.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildClient, CommitmentPolicy, getClient, KMS, KmsKeyringNode } from '@aws-crypto/client-node';
import { CreateGrantCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { build } from 'esbuild';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName } from '../../contract/functions.js';
import { ConsentCaptureStack } from '../../lib/consent-capture-stack.js';
import { FUNCTION_RUNTIME, UNREACHABLE_IN_LAMBDA } from '../../lib/constructs/function-defaults.js';
import { bundleFunction, esbuildTarget } from '../../lib/function-bundle.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';
import { testApp } from './fixtures/test-app.js';

const KIB = 1024;
/** Issue 9's target for every function: 450 KB minified (1.05 MB was 1,102,086 bytes, so KB = KiB). */
const TARGET_BYTES = 450 * KIB;
/**
 * Functions allowed over the target, each with a ceiling just above its size, so that growth fails
 * here. None today: every function bundles the pinned AWS SDK v3's shared core (@smithy/core and
 * @aws-sdk/core, about 165 KB) and zod/mini (35-39 KB); ingest and export add S3 (about 70 KB with
 * its endpoint rules, middleware, checksums and XML) and the Encryption SDK (about 55 KB), and are
 * the closest to 450 KiB. keepNames is off (lib/function-bundle.ts says why): it cost 27 KB each.
 */
const OVER_TARGET: Partial<Record<FunctionName, { readonly ceiling: number; readonly why: string }>> = {};

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

let outdir: string;
let functionCount = 0;
const bundles = new Map<FunctionName, string>();
beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'cc-bundles-'));
  const app = testApp({}, { bundle: true, outdir });
  const stack = new ConsentCaptureStack(app, 'ConsentCapture');
  app.synth();
  functionCount = Object.keys(Template.fromStack(stack).findResources('AWS::Lambda::Function')).length;
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    const cfn = stack.functions[name].fn.node.defaultChild as CfnFunction;
    const code = Stack.of(stack).resolve(cfn.code) as { s3Key: string };
    const hash = code.s3Key.replace(/\.zip$/, '');
    bundles.set(name, join(outdir, `asset.${hash}`, 'index.mjs'));
  }
}, 180_000);
afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

function bundleOf(name: FunctionName): string {
  const path = bundles.get(name);
  if (path === undefined || !existsSync(path)) throw new Error(`no bundle for ${name} at ${path}`);
  return path;
}

/** What a bundle still imports at run time, by kind, as esbuild parses it (every package left external). */
async function importsOf(bundle: string): Promise<{ readonly staticImports: string[]; readonly dynamicImports: string[]; readonly requires: string[] }> {
  const { metafile } = await build({ entryPoints: [bundle], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent' });
  const imports = Object.values(metafile.inputs).flatMap((input) => input.imports).filter((i) => i.external === true);
  const of = (kind: string) => [...new Set(imports.filter((i) => i.kind === kind).map((i) => i.path))];
  return { staticImports: of('import-statement'), dynamicImports: of('dynamic-import'), requires: of('require-call') };
}

describe('function bundles', () => {
  it('are built by esbuild at synth, as ESM with a linked source map, one asset per function', () => {
    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));

    expect(assets).toHaveLength(functionCount);
    for (const asset of assets) {
      expect(existsSync(join(outdir, asset, 'index.mjs'))).toBe(true);
      expect(existsSync(join(outdir, asset, 'index.mjs.map'))).toBe(true);
    }
  });

  it.each(Object.keys(FUNCTIONS) as FunctionName[])('%s stays within its size budget', (name) => {
    const bytes = statSync(bundleOf(name)).size;
    const over = OVER_TARGET[name];

    if (over === undefined) expect(bytes, `${name} is ${bytes} bytes`).toBeLessThanOrEqual(TARGET_BYTES);
    else expect(bytes, `${name} is ${bytes} bytes (${over.why})`).toBeLessThanOrEqual(over.ceiling);
  });

  it.each(Object.keys(FUNCTIONS) as FunctionName[])('%s imports only Node built-ins statically, and dynamically only what Lambda never reaches', async (name) => {
    const { staticImports, dynamicImports, requires } = await importsOf(bundleOf(name));

    expect(staticImports.filter((m) => !BUILTINS.has(m))).toEqual([]);
    expect(requires.filter((m) => !BUILTINS.has(m))).toEqual([]);
    expect(dynamicImports.filter((m) => !BUILTINS.has(m) && !UNREACHABLE_IN_LAMBDA.includes(m))).toEqual([]);
    // The credential chain's later links are there, as dynamic imports: the list is not stale.
    expect(dynamicImports).toEqual(expect.arrayContaining(UNREACHABLE_IN_LAMBDA.filter((m) => m !== 'bowser')));
  });

  it('is, for ingest, byte for byte what lib/function-bundle.ts builds (the options live in one place)', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'cc-bundle-direct-'));
    try {
      await bundleFunction({ entry: FUNCTIONS.ingest.entry, outdir, target: esbuildTarget(FUNCTION_RUNTIME.name) });

      expect(readFileSync(join(outdir, 'index.mjs')).equals(readFileSync(bundleOf('ingest')))).toBe(true);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 60_000);

  // lib/function-bundle.ts leaves the SDK's modeled error classes out: the SDK throws those errors
  // as the client's service exception, under the same name. Code that imported a modeled class
  // (to ask `instanceof`) would silently stop matching, so the functions import none.
  it('lambdas/ import no modeled SDK error class (the bundles leave them out; errors are told apart by name)', () => {
    const files = readdirSync('lambdas', { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    const imported = files.flatMap((file) =>
      [...readFileSync(join('lambdas', file), 'utf8').matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'@aws-sdk\/client-[a-z0-9-]+'/g)].flatMap(([, names = '']) =>
        names
          .split(',')
          .map((name) => name.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0] ?? '')
          .filter((name) => /(Exception|Fault)$/.test(name) && !name.endsWith('ServiceException'))
          .map((name) => `${file}: ${name}`),
      ),
    );

    expect(files.length).toBeGreaterThan(10);
    expect(imported).toEqual([]);
  });

  it('leaves out bn.js, asn1.js and readable-stream in every function (their substitutes stand in)', () => {
    for (const name of ['ingest', 'export'] as const) {
      const code = readFileSync(bundleOf(name), 'utf8');

      // The substitutes' own error text, bn.js's parse error, and readable-stream's own error code
      // (booleans, so a failure does not print the whole bundle).
      expect(code.includes('is left out of this bundle'), `${name} carries the substitutes`).toBe(true);
      expect(code.includes('Invalid character in '), `${name} carries bn.js`).toBe(false);
      expect(code.includes('ERR_STREAM_PUSH_AFTER_EOF'), `${name} carries readable-stream`).toBe(false);
    }
  });

  it('ingest leaves out the hierarchical keyring, its DynamoDB key store and the aggregated KMS client', () => {
    const code = readFileSync(bundleOf('ingest'), 'utf8');

    // Operation names that only those bring in; the three ingest's keyring uses stay.
    expect(code).not.toContain('BranchKeyStore');
    expect(code).not.toContain('"TransactWriteItems"');
    expect(code).not.toContain('"ReplicateKey"');
    expect(code).toContain('"GenerateDataKey"');
  });
});

describe('the bundles on the local stack', () => {
  let t: ConsentTestStack;
  beforeAll(async () => {
    const functions = Object.fromEntries((Object.keys(FUNCTIONS) as FunctionName[]).map((name) => [name, { entry: bundleOf(name) }]));
    t = await startTestStack({ functions });
  }, 90_000);
  afterAll(async () => {
    await t?.close();
  });

  it('grant, seal a batch the export role can decrypt, erase and purge, each function bundled', async () => {
    // Arrange
    const employee = 'e-bundled';
    const manage = await t.token(employee, 'consent:manage');

    // Act
    const granted = await t.call('POST', '/v1/consent', { token: manage, body: { scopes: ['keystrokes'], ...NOTICE } });
    // Dated after the grant, inside the consent window.
    const batch = captureBatch({ kinds: ['keystroke'], perKind: 1, marker: 'MARKER-bundled' });
    const stored = await t.call('POST', '/v1/events', { token: await t.token(employee, 'capture:write'), body: batch });

    // Assert: the bundled ingest sealed it under the employee's key, with the non-signing suite.
    expect(granted.status).toBe(200);
    expect(stored.status).toBe(202);
    expect(stored.body['stored']).toEqual({ keystrokes: 1 });
    const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employee}/` }));
    const key = listed.Contents?.[0]?.Key ?? '';
    const object = await t.s3.send(new GetObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: key }));
    const ciphertext = Buffer.from(await object.Body!.transformToByteArray());
    const keyArn = (await t.ledger.latestEvent(employee))?.state.keyArn ?? '';
    await t.kms('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.export, RetiringPrincipal: t.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: employee } } }),
    );
    const { accessKeyId, secretAccessKey } = t.stack.identity.principals.export;
    const keyring = new KmsKeyringNode({ keyIds: [keyArn], clientProvider: getClient(KMS, { endpoint: t.stack.endpoints.kms, region: t.stack.identity.region, credentials: { accessKeyId, secretAccessKey } }) });
    const { plaintext, messageHeader } = await buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT).decrypt(keyring, ciphertext);
    expect(messageHeader.encryptionContext).toEqual({ employeeId: employee, scope: 'keystrokes', batchId: batch.batchId });
    expect(gunzipSync(plaintext).toString('utf8')).toContain('MARKER-bundled');

    // Act: erase; the bundled consent function queues the purge, the bundled purge worker runs it.
    const erased = await t.call('POST', '/v1/consent/revoke', { token: manage, body: { erase: true } });

    // Assert
    expect(erased.status).toBe(200);
    const purged = await pollUntil(async () => {
      const latest = await t.ledger.latestEvent(employee);
      return latest?.state.status === 'purged' ? latest : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100, what: 'the purged event' });
    expect(purged.state.status).toBe('purged');
    const left = await t.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employee}/` }));
    expect(left.KeyCount ?? 0).toBe(0);
  }, 60_000);
});

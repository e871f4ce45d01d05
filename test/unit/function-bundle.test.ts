// The functions' bundling (lib/function-bundle.ts): each substitute answers as the package it
// replaces on what the functions use and throws on the rest; the SDK schema rewrite leaves every
// schema value as it was; and a bundle built with the functions' options seals and opens messages
// with the suite ingest uses, interchangeably with the unbundled Encryption SDK.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import asn1 from '../../lib/bundle-substitutes/asn1.js';
import BN from '../../lib/bundle-substitutes/bn.js';
import * as eventStreams from '../../lib/bundle-substitutes/event-streams.js';
import * as readableStream from '../../lib/bundle-substitutes/readable-stream.js';
import { bundleFunction, dropModeledErrors, inlineSchemaKeys, REPO_ROOT, retryableErrors } from '../../lib/function-bundle.js';
import { open, keyring, roundTrip } from './fixtures/sealed-round-trip.js';
import { shortReport } from '../support/fast-check-report.js';
import { fastCheckSeed } from '../support/fast-check-seed.js';

/** The real bn.js, as the Encryption SDK loads it outside the bundles. */
interface RealBn {
  toArray(endian: 'be' | 'le', length?: number): number[];
  toNumber(): number;
  bitLength(): number;
  mod(other: RealBn): RealBn;
  add(other: RealBn): RealBn;
  div(other: RealBn): RealBn;
  eq(other: RealBn): boolean;
  toString(base: number): string;
}
const RealBN = createRequire(import.meta.url)('bn.js') as new (number: unknown, base?: unknown, endian?: unknown) => RealBn;

function outcome<T>(run: () => T): { value: T } | { error: string } {
  try {
    return { value: run() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('the bn.js substitute', () => {
  it('writes frame lengths as bn.js does: new BN(n).toArray("be", 8), and refuses a longer number alike', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.maxSafeNat()), fc.integer({ min: 1, max: 9 }), (n, length) => {
        expect(outcome(() => new BN(n).toArray('be', length))).toEqual(outcome(() => new RealBN(n).toArray('be', length)));
      }),
      { seed: fastCheckSeed(901), numRuns: 300, reporter: shortReport },
    );
  });

  it('reads frame lengths as bn.js does: new BN(bytes, 16, "be").toNumber(), and refuses more than 53 bits alike', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 9 }), (bytes) => {
        expect(outcome(() => new BN([...bytes], 16, 'be').toNumber())).toEqual(outcome(() => new RealBN([...bytes], 16, 'be').toNumber()));
      }),
      { seed: fastCheckSeed(902), numRuns: 300, reporter: shortReport },
    );
  });

  it('computes what the SDK computes for its curves when it loads (hex parsing, mod, eq, add, div, bitLength)', () => {
    const primes = ['FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF', 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF'];
    for (const hex of primes) {
      const [ours, real] = [new BN(hex, 16), new RealBN(hex, 16)];

      expect(ours.mod(new BN(4)).eq(new BN(3))).toBe(real.mod(new RealBN(4)).eq(new RealBN(3)));
      expect(ours.add(new BN(1)).div(new BN(4)).value.toString(16)).toBe(real.add(new RealBN(1)).div(new RealBN(4)).toString(16));
      expect(ours.bitLength()).toBe(real.bitLength());
    }
  });

  it('throws on the signing suites\' elliptic-curve arithmetic instead of answering', () => {
    const point = new BN(7);

    for (const use of [() => point.pow(), () => point.mul(), () => point.sub(), () => point.toRed(), () => point.redPow(), () => point.fromRed(), () => new BN(-1), () => new BN('zz', 16)]) {
      expect(use).toThrow(/bn\.js is left out of this bundle/);
    }
  });
});

describe('the asn1.js substitute', () => {
  it('lets the SDK declare its DER schemas at load, and throws when one is used', () => {
    const signature = asn1.define('ECDSASignature');

    expect(() => signature.encode()).toThrow(/asn1\.js is left out of this bundle \(encode ECDSASignature\)/);
    expect(() => signature.decode()).toThrow(/asn1\.js is left out/);
    expect(() => asn1.bignum).toThrow(/asn1\.js is left out/);
  });
});

describe('the readable-stream substitute', () => {
  it('is Node\'s streams under readable-stream\'s names', () => {
    expect(readableStream.default).toBe(Readable);
    expect([readableStream.Readable, readableStream.Writable, readableStream.Transform, readableStream.PassThrough]).toEqual([Readable, Writable, Transform, PassThrough]);
  });

  it('runs a pipeline without a callback, as the Encryption SDK\'s encrypt stream does', async () => {
    const chunks: Buffer[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });

    readableStream.pipeline(Readable.from([Buffer.from('a'), Buffer.from('b')]), new PassThrough(), sink);
    await new Promise<void>((resolve, reject) => readableStream.finished(sink, (error?: Error | null) => (error ? reject(error) : resolve())));

    expect(Buffer.concat(chunks).toString()).toBe('ab');
  });
});

describe('the event-streams substitute', () => {
  it('gives each client a marshaller, as the original resolver does, that throws when an event stream is used', () => {
    const config = { eventStreamSerdeProvider: eventStreams.eventStreamSerdeProvider, region: 'eu-west-1' };

    const resolved = eventStreams.resolveEventStreamSerdeConfig(config);

    expect(resolved).toBe(config);
    const marshaller = resolved.eventStreamMarshaller as { serialize(): unknown; deserialize(): unknown };
    expect(() => marshaller.serialize()).toThrow('@smithy/core/event-streams is left out of this bundle (serialize)');
    expect(() => marshaller.deserialize()).toThrow('@smithy/core/event-streams is left out of this bundle (deserialize)');
    expect(() => new eventStreams.EventStreamSerde()).toThrow('is left out of this bundle');
  });
});

describe('inlineSchemaKeys', () => {
  it('makes a string constant used as a computed key literal, and leaves other keys alone', () => {
    const source = 'const _hH = "httpHeader";\nconst _p = "__proto__";\nexport var A$ = [3, { [_hH]: _x }, { [_p]: 1 }, { [other]: 2 }];';

    expect(inlineSchemaKeys(source)).toBe('const _hH = "httpHeader";\nconst _p = "__proto__";\nexport var A$ = [3, { "httpHeader": _x }, { [_p]: 1 }, { [other]: 2 }];');
  });

  // Every client the functions bundle: the rewritten schema module's exports equal the original's.
  it.each(['client-s3', 'client-dynamodb', 'client-kms', 'client-sqs', 'client-lambda'])('keeps every @aws-sdk/%s schema value as it was', async (client) => {
    const path = join(REPO_ROOT, 'node_modules', '@aws-sdk', client, 'dist-es', 'schemas', 'schemas_0.js');
    const source = readFileSync(path, 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'cc-schemas-'));
    try {
      const variants = await Promise.all(
        [source, inlineSchemaKeys(source)].map(async (contents, n) => {
          const outfile = join(dir, `schemas-${n}.mjs`);
          await build({ stdin: { contents, resolveDir: join(path, '..'), sourcefile: path }, bundle: true, format: 'esm', platform: 'node', outfile, logLevel: 'silent' });
          return (await import(pathToFileURL(outfile).href)) as Record<string, unknown>;
        }),
      );
      // Thunks (`() => X$`) print as their source, which the rewrite does not touch.
      const printed = variants.map((exports) => JSON.stringify(exports, (_key, value: unknown) => (typeof value === 'function' ? String(value) : value)));

      expect(inlineSchemaKeys(source)).not.toBe(source);
      expect(printed[1]).toBe(printed[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('dropModeledErrors', () => {
  it('unregisters modeled errors but the base exception and those kept', () => {
    const source = ['_s_registry.registerError(XServiceException$, XServiceException);', 'n0_registry.registerError(ThrottledException$, ThrottledException);', 'n0_registry.registerError(NotFound$, NotFound);', 'n1_registry.registerError(Gone$, Gone);'].join('\n');

    expect(dropModeledErrors(source, new Set(['ThrottledException']))).toBe(['_s_registry.registerError(XServiceException$, XServiceException);', 'n0_registry.registerError(ThrottledException$, ThrottledException);', '', ''].join('\n'));
  });

  it('keeps the errors the SDK retries by their $retryable field, and only those', () => {
    const errors = (client: string) => readFileSync(join(REPO_ROOT, 'node_modules', '@aws-sdk', client, 'dist-es', 'models', 'errors.js'), 'utf8');

    expect([...retryableErrors(errors('client-dynamodb'))]).toEqual(['ReplicatedWriteConflictException']);
    expect([...retryableErrors(errors('client-lambda'))]).toEqual([]);
  });
});

// The functions tell SDK errors apart by name: without their modeled classes, the bundled clients
// still throw each error under its name, as the client's service exception, with fault and status.
describe('SDK errors in a bundle without modeled error classes', () => {
  let dir: string;
  let server: Server;
  let endpoint: string;
  let bundled: typeof import('./fixtures/sdk-errors.js');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cc-sdk-errors-'));
    const metafile = await bundleFunction({ entry: 'test/unit/fixtures/sdk-errors.ts', outdir: dir, target: 'node20' });
    // The modeled classes are not in the output (the module is still read: esbuild lists it as an input).
    const output = Object.values(metafile.outputs).flatMap((o) => Object.entries(o.inputs));
    const errorBytes = (client: string) => output.filter(([path]) => path.endsWith(`${client}/dist-es/models/errors.js`)).reduce((sum, [, { bytesInOutput }]) => sum + bytesInOutput, 0);
    expect(errorBytes('client-lambda')).toBe(0);
    // DynamoDB keeps one: ReplicatedWriteConflictException, which the SDK retries by its $retryable.
    expect(errorBytes('client-dynamodb')).toBeLessThan(1000);
    bundled = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as typeof bundled;
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (request.url?.startsWith('/2015-03-31/functions/')) {
          response.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' });
          response.end(JSON.stringify({ Type: 'User', message: 'Rate exceeded', Reason: 'CallerRateLimitExceeded' }));
        } else {
          response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          response.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', message: 'The conditional request failed' }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('DynamoDB: ConditionalCheckFailedException by name, a client fault', async () => {
    expect(await bundled.failedPut(endpoint)).toEqual({ name: 'ConditionalCheckFailedException', message: 'The conditional request failed', fault: 'client', status: 400, serviceException: true });
  });

  it('Lambda: TooManyRequestsException by name, a client fault', async () => {
    expect(await bundled.failedInvoke(endpoint)).toEqual({ name: 'TooManyRequestsException', message: 'Rate exceeded', fault: 'client', status: 429, serviceException: true });
  });
});

describe('a bundle built with the functions\' options', () => {
  let dir: string;
  let bundled: typeof import('./fixtures/sealed-round-trip.js');
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cc-sealed-'));
    const metafile = await bundleFunction({ entry: 'test/unit/fixtures/sealed-round-trip.ts', outdir: dir, target: 'node20' });
    bundled = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as typeof bundled;
    // The substitutes, not the packages, are in it.
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.filter((p) => /node_modules\/(bn\.js|asn1\.js|readable-stream)\//.test(p))).toEqual([]);
    expect(inputs).toEqual(expect.arrayContaining(['lib/bundle-substitutes/bn.ts', 'lib/bundle-substitutes/asn1.ts', 'lib/bundle-substitutes/readable-stream.ts']));
  }, 60_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('seals and opens a multi-frame message with the committing non-signing suite', async () => {
    // 200 KB of compressible lines and 300 KB of noise: more than four 64 KiB frames.
    const plaintext = Buffer.concat([gzipSync(Buffer.from('{"kind":"keystroke"}\n'.repeat(10_000))), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251))]);

    const { opened, suiteId, context } = await bundled.roundTrip(bundled.keyring(), plaintext);

    expect(opened.equals(plaintext)).toBe(true);
    expect(suiteId).toBe(0x0478);
    expect({ ...context }).toEqual({ employeeId: 'e-1', scope: 'keystrokes', batchId: 'b-1' });
  });

  it('writes messages the unbundled Encryption SDK opens, and opens the messages it writes', async () => {
    const key = randomBytes(32);
    // Each keyring wipes the bytes it is given, so each gets its own copy.
    const [ring, bundledRing] = [keyring(new Uint8Array(key)), bundled.keyring(new Uint8Array(key))];
    const plaintext = Buffer.alloc(150_000, 42);

    const fromBundle = (await bundled.roundTrip(bundledRing, plaintext)).sealed;
    const fromSdk = (await roundTrip(ring, plaintext)).sealed;

    expect((await open(ring, fromBundle)).equals(plaintext)).toBe(true);
    expect((await bundled.open(bundledRing, fromSdk)).equals(plaintext)).toBe(true);
  });
});

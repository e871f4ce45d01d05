// How a function's code is bundled for Lambda, declared once: the CDK app (FunctionDefaults, through
// lib/build-function.ts), bench:ingest and the bundle tests all build with functionBuildOptions().
// esbuild's JavaScript API is used rather than NodejsFunction's CLI so the bundle can carry a plugin.

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';

/** The repository root: esbuild resolves dependencies from its node_modules. */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Modules left out of every bundle because Lambda never reaches them. The AWS SDK's default
 * credential chain tries the environment first, and Lambda always sets AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, so the chain's later links (SSO, shared files,
 * credential processes, web identity, container and instance metadata) never run; the chain loads
 * each with a dynamic `import()` only when it gets there. Bundled, they and their STS, SSO and
 * OIDC clients cost about 95 KB in every function; left out, reaching one fails closed
 * (ERR_MODULE_NOT_FOUND: no credentials) instead of finding credentials elsewhere. `bowser` is
 * the SDK's browser user-agent parser, also a dynamic import. A module some bundle imports
 * statically must never be listed (S3 imports `@smithy/core/event-streams` statically, for one):
 * test/infra/function-bundles.test.ts checks that every bundle reaches these only dynamically.
 */
export const UNREACHABLE_IN_LAMBDA: readonly string[] = [
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-http',
  '@smithy/credential-provider-imds',
  'bowser',
];

/**
 * Packages replaced in every bundle by a smaller module in lib/bundle-substitutes/, each for a
 * path the functions never take. test/unit/bundle-substitutes.test.ts holds each to the original
 * on what the functions do use, and checks that the rest throws rather than answers wrongly.
 */
export const SUBSTITUTES: Readonly<Record<string, { readonly path: string; readonly why: string }>> = {
  'bn.js': {
    path: './lib/bundle-substitutes/bn.ts',
    why: 'The Encryption SDK uses bn.js (94 KB) to write and read 8-byte frame lengths, and for the ECDSA points of the signing suites, which we never use (the committing non-signing suite). The substitute does the first with BigInt and throws on the second.',
  },
  'asn1.js': {
    path: './lib/bundle-substitutes/asn1.ts',
    why: 'Only the signing suites use asn1.js (26 KB): DER signatures and PEM keys. Its schemas are declared at import, so the substitute declares them and throws when one is used.',
  },
  '@smithy/core/event-streams': {
    path: './lib/bundle-substitutes/event-streams.ts',
    why: 'The S3 and Lambda clients build an event-stream marshaller (its codec, 15 KB) for every client, which only event-stream operations use (S3 SelectObjectContent, Lambda InvokeWithResponseStream); the functions call none. The substitute builds a marshaller that throws if used.',
  },
  'readable-stream': {
    path: './lib/bundle-substitutes/readable-stream.ts',
    why: 'readable-stream 3 (45 KB with its helpers) is a copy of Node 10\'s streams for browsers; it hands out Node\'s own `stream` when READABLE_STREAM=disable, and the substitute is exactly that branch.',
  },
};

/** Prepended to every bundle: ESM output cannot `require`, and some bundled CommonJS dependencies still call it. */
export const BANNER = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** An AWS SDK client's generated schema module. */
const SDK_SCHEMAS = /[\\/]@aws-sdk[\\/]client-[a-z0-9-]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

/**
 * Writes the SDK's schema modules with literal object keys where they use a string constant as a
 * computed key (`{ [_hH]: _xae }` becomes `{ "httpHeader": _xae }`). The value is the same object;
 * but esbuild must assume a computed key built from an identifier may run code (toString), so it
 * keeps every schema of the client, about 60 KB for S3 whichever commands a function uses. With
 * literal keys the unused schemas are tree-shaken. `__proto__` is never rewritten: as a literal
 * key it would set the prototype instead of a property.
 */
export function inlineSchemaKeys(source: string): string {
  const constants = new Map<string, string>();
  for (const match of source.matchAll(/^const (_[A-Za-z0-9_$]+) = ("(?:[^"\\\n]|\\.)*");$/gm)) {
    const [, name, literal] = match;
    if (name !== undefined && literal !== undefined && literal !== '"__proto__"') constants.set(name, literal);
  }
  return source.replace(/\[(_[A-Za-z0-9_$]+)\]:/g, (whole, name: string) => {
    const literal = constants.get(name);
    return literal === undefined ? whole : `${literal}:`;
  });
}

/**
 * Leaves out a client's modeled error classes, which its schema module registers one by one
 * (`n0_registry.registerError(X$, X)`, side effects esbuild must keep): 20 KB for Lambda, 11 KB for
 * DynamoDB, with their error schemas. An error the registry does not know is thrown by the SDK as the
 * client's base exception (DynamoDBServiceException, ...) with the same `name`, `$fault`,
 * `$metadata`, message and response fields, so code that tells errors apart by `name`, as the
 * functions do, sees no difference; `instanceof ConditionalCheckFailedException` would be false
 * (test/infra/function-bundles.test.ts checks that lambdas/ never asks that). Classes listed in
 * `keep` stay registered: those the SDK's retry strategy tells apart by their `$retryable` field.
 */
export function dropModeledErrors(source: string, keep: ReadonlySet<string>): string {
  return source.replace(/^n\d+_registry\.registerError\(([A-Za-z0-9_$]+)\$, ([A-Za-z0-9_$]+)\);$/gm, (whole, _schema: string, name: string) => (keep.has(name) ? whole : ''));
}

/** The modeled errors of a client's errors module that carry `$retryable` (the SDK retries them). */
export function retryableErrors(errorsSource: string): Set<string> {
  const names = new Set<string>();
  for (const match of errorsSource.matchAll(/^export class ([A-Za-z0-9_$]+) extends [^{]+\{([\s\S]*?)^\}$/gm)) {
    const [, name, body] = match;
    if (name !== undefined && body !== undefined && /^\s+\$retryable\b/m.test(body)) names.add(name);
  }
  return names;
}

const inlineSdkSchemaKeys: Plugin = {
  name: 'inline-sdk-schema-keys',
  setup(builder) {
    builder.onLoad({ filter: SDK_SCHEMAS }, async (args) => {
      const retryable = retryableErrors(await readFile(join(dirname(args.path), '..', 'models', 'errors.js'), 'utf8'));
      return { contents: dropModeledErrors(inlineSchemaKeys(await readFile(args.path, 'utf8')), retryable), loader: 'js' };
    });
  },
};

/** An AWS SDK package's own package.json, which its runtime config imports whole. */
const SDK_PACKAGE_JSON = /[\\/]@aws-sdk[\\/][a-z0-9-]+[\\/]package\.json$/;

/**
 * Reduces an SDK package's package.json to its name and version when a bundle imports it. The
 * clients import it as a whole (`import packageInfo from "../package.json"`) for one field, the
 * version in the user agent; the rest (scripts, dependencies) is about 2.4 KB per client.
 */
export function sdkPackageInfo(source: string): string {
  const { name, version } = JSON.parse(source) as { name?: unknown; version?: unknown };
  return JSON.stringify({ name, version });
}

const trimSdkPackageJson: Plugin = {
  name: 'trim-sdk-package-json',
  setup(builder) {
    builder.onLoad({ filter: SDK_PACKAGE_JSON }, async (args) => ({ contents: sdkPackageInfo(await readFile(args.path, 'utf8')), loader: 'json' }));
  },
};

export interface FunctionBundleProps {
  /** The handler's entry file (absolute, or relative to the repository root). */
  readonly entry: string;
  /** Where index.mjs and index.mjs.map are written. */
  readonly outdir: string;
  /** esbuild's target, from the Lambda runtime (`node24` for nodejs24.x). */
  readonly target: string;
}

/** The esbuild options for one function: minified ESM with a linked source map, everything bundled (the pinned AWS SDK too) but UNREACHABLE_IN_LAMBDA. */
export function functionBuildOptions(props: FunctionBundleProps): BuildOptions {
  return {
    entryPoints: [props.entry],
    absWorkingDir: REPO_ROOT,
    outfile: `${props.outdir}/index.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: props.target,
    banner: { js: BANNER },
    // ESM builds first: they are the ones esbuild can tree-shake.
    mainFields: ['module', 'main'],
    minify: true,
    // No keepNames (it costs about 27 KiB a function): stack traces get their names back from the
    // linked source map (--enable-source-maps), and our errors name themselves (`name = '…'`). The
    // one constructor.name check in what we bundle, Powertools batch's processSync guard, is on a
    // path we never take (processPartialResponse runs the async process()).
    keepNames: false,
    // Linked: a separate .map file plus the sourceMappingURL comment that --enable-source-maps needs.
    sourcemap: 'linked',
    sourcesContent: false,
    // The SDK versions are pinned in package.json and tested; the runtime's bundled SDK is not.
    external: [...UNREACHABLE_IN_LAMBDA],
    alias: Object.fromEntries(Object.entries(SUBSTITUTES).map(([name, { path }]) => [name, path])),
    plugins: [inlineSdkSchemaKeys, trimSdkPackageJson],
    metafile: true,
    logLevel: 'warning',
  };
}

/** Builds one function; the metafile says what went into the bundle. */
export async function bundleFunction(props: FunctionBundleProps): Promise<Metafile> {
  const result = await build(functionBuildOptions(props));
  if (result.metafile === undefined) throw new Error(`esbuild returned no metafile for ${props.entry}`);
  return result.metafile;
}

/** esbuild's target for a Lambda runtime name (`nodejs24.x` gives `node24`). */
export function esbuildTarget(runtimeName: string): string {
  const match = /^nodejs(\d+)/.exec(runtimeName);
  if (!match) throw new Error(`cannot derive an esbuild target from runtime "${runtimeName}"; expected nodejsNN.x`);
  return `node${match[1]}`;
}

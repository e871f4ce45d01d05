// The layering the application contract stands on: lambdas/ import contract/ and never the CDK
// app (lib/) or the local stack (local/); contract/ imports nothing of ours but itself and no AWS
// library, so both deployments can read it. Walks every source file's imports, re-exports and
// dynamic imports.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file names: static imports and exports (type-only too), dynamic imports, requires. */
function specifiersOf(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1] ?? ''));
}

interface Edge {
  readonly from: string;
  /** A repository path for a relative import, the package name otherwise. */
  readonly to: string;
}

function edgesOf(dir: string): Edge[] {
  return sourceFiles(dir).flatMap((file) =>
    specifiersOf(readFileSync(join(ROOT, file), 'utf8')).map((specifier) => ({
      from: file,
      to: specifier.startsWith('.') ? relative(ROOT, resolve(dirname(join(ROOT, file)), specifier)) : specifier,
    })),
  );
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/** The edges that break a rule, as `from -> to` lines, so a failure names each offending import. */
function violations(edges: readonly Edge[], forbidden: (to: string) => boolean): string[] {
  return edges.filter((edge) => forbidden(edge.to)).map((edge) => `${edge.from} -> ${edge.to}`);
}

describe('import graph', () => {
  it('finds the imports it must police (the walker itself works)', () => {
    const edges = edgesOf('lambdas');
    expect(statSync(join(ROOT, 'contract')).isDirectory()).toBe(true);
    expect(edges.some((edge) => within(edge.to, 'contract'))).toBe(true);
    expect(specifiersOf("import type { A } from '../lib/x.js';\nexport * from \"../local/y.js\";\nawait import('../lib/z.js');")).toEqual([
      '../lib/x.js',
      '../local/y.js',
      '../lib/z.js',
    ]);
  });

  it('lambdas/ import neither the CDK app (lib/) nor the local stack (local/)', () => {
    expect(violations(edgesOf('lambdas'), (to) => within(to, 'lib') || within(to, 'local') || within(to, 'bin'))).toEqual([]);
  });

  it('contract/ imports only itself and zod: no lib/, local/, lambdas/, aws-cdk-lib or AWS SDK', () => {
    const edges = edgesOf('contract');
    expect(
      violations(edges, (to) => ['lib', 'local', 'lambdas', 'bin', 'tools', 'test'].some((dir) => within(to, dir)) || to === 'aws-cdk-lib' || to.startsWith('aws-cdk-lib/') || to === 'constructs' || to.startsWith('@aws-sdk/')),
    ).toEqual([]);
    // Anything but relative imports inside contract/ and zod would be a new dependency of the manifest.
    expect(violations(edges, (to) => !within(to, 'contract') && !['zod', 'zod/mini', 'zod/locales'].includes(to))).toEqual([]);
  });

  it('datasets/ (shipped to training jobs) imports the contract and, of lambdas/, only the shared keyring', () => {
    const edges = edgesOf('datasets');
    expect(edges.some((edge) => edge.to === 'lambdas/shared/kms-keyring.js')).toBe(true);
    expect(violations(edges, (to) => ['lib', 'local', 'bin', 'tools', 'test', 'bench'].some((dir) => within(to, dir)) || (within(to, 'lambdas') && to !== 'lambdas/shared/kms-keyring.js'))).toEqual([]);
    // Nothing deployed depends on the training-side reader.
    expect(violations([...edgesOf('lambdas'), ...edgesOf('contract'), ...edgesOf('lib')], (to) => within(to, 'datasets'))).toEqual([]);
  });

  it('lib/ and local/ read the contract', () => {
    expect(edgesOf('lib').some((edge) => within(edge.to, 'contract'))).toBe(true);
    expect(edgesOf('local').some((edge) => within(edge.to, 'contract'))).toBe(true);
  });

  // The SDK ships to laptops and speaks only the published contract: the zod schemas of contract/
  // (the same ones docs/openapi.json is built from), so agent and server cannot drift apart, and
  // never the server's code (lambdas/, lib/, local/) or an AWS library.
  it('agent/ imports only itself, the zod-only contract, zod, Node built-ins and its optional input packages', () => {
    const edges = edgesOf('agent');
    expect(edges.some((edge) => within(edge.to, 'contract'))).toBe(true);
    const allowed = (to: string): boolean =>
      within(to, 'agent') || within(to, 'contract') || to === 'zod' || to.startsWith('node:') || ['uiohook-napi', 'get-windows', '@napi-rs/keyring'].includes(to);
    expect(violations(edges, (to) => !allowed(to))).toEqual([]);
  });
});

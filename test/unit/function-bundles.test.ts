// The local stack's handler bundles (local/function-bundles.ts): one ESM file per handler, taken
// from the cache while no input changes, rebuilt when one does, and a clear error when esbuild fails.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleFunction, FunctionBundleError } from '../../local/function-bundles.js';

const dir = mkdtempSync(join(tmpdir(), 'cc-bundle-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A handler importing a second module, both written with an mtime in the past (so they may be cached). */
function writeHandler(name: string, answer: string, ageSeconds = 60): string {
  const entry = join(dir, `${name}.ts`);
  const dependency = join(dir, `${name}-answer.ts`);
  writeFileSync(dependency, `export const answer: string = ${JSON.stringify(answer)};\n`);
  writeFileSync(entry, `import { answer } from './${name}-answer.js';\nexport const handler = async (): Promise<string> => answer;\n`);
  const past = new Date(Date.now() - ageSeconds * 1000);
  for (const file of [entry, dependency]) utimesSync(file, past, past);
  return entry;
}

async function run(bundle: string): Promise<unknown> {
  const mod = (await import(`${pathToFileURL(bundle).href}?${Date.now()}`)) as { handler(): Promise<unknown> };
  return mod.handler();
}

describe('bundleFunction', () => {
  it('bundles a handler and its imports into one module that runs', async () => {
    const entry = writeHandler('first', 'forty-two');

    const bundle = await bundleFunction(entry);

    expect(bundle).toMatch(/\.mjs$/);
    expect(await run(bundle)).toBe('forty-two');
  });

  it('gives the cached bundle while no input changes', async () => {
    const entry = writeHandler('cached', 'same');
    const first = await bundleFunction(entry);
    // Marks the cached file: a rebuild would not have this content.
    writeFileSync(first, 'export const handler = async () => "from the cache";\n');

    const again = await bundleFunction(entry);

    expect(again).toBe(first);
    expect(await run(again)).toBe('from the cache');
  });

  it('rebuilds when an imported module changes', async () => {
    const entry = writeHandler('changed', 'before');
    expect(await run(await bundleFunction(entry))).toBe('before');

    writeHandler('changed', 'after, and longer', 30);

    expect(await run(await bundleFunction(entry))).toBe('after, and longer');
  });

  it('fails with FunctionBundleError naming the entry when an import does not resolve', async () => {
    const entry = join(dir, 'broken.ts');
    writeFileSync(entry, "import { gone } from './no-such-module.js';\nexport const handler = async () => gone;\n");

    await expect(bundleFunction(entry)).rejects.toThrow(FunctionBundleError);
    await expect(bundleFunction(entry)).rejects.toThrow(/broken\.ts does not bundle: [\s\S]*no-such-module/);
  });
});

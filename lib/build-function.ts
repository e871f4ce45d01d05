// Bundles one function for the CDK app: FunctionDefaults' local bundling runs this in a child
// process (CDK's bundling hook is synchronous, and esbuild runs plugins only in an async build).
// Usage: node --import tsx lib/build-function.ts <entry> <outdir> <esbuild target>
import { bundleFunction } from './function-bundle.js';

const [entry, outdir, target] = process.argv.slice(2);
if (entry === undefined || outdir === undefined || target === undefined) {
  process.stderr.write('usage: build-function <entry> <outdir> <esbuild target>, e.g. lambdas/ingest/index.ts /tmp/out node24\n');
  process.exit(2);
}
await bundleFunction({ entry, outdir, target });

// Writes docs/openapi.json from the route table (`npm run openapi`), or with --check fails when the
// committed file differs from what the contract builds.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiText } from '../contract/openapi.js';

const target = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));
const text = openApiText();
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // absent: differs
  }
  if (committed !== text) {
    console.error('docs/openapi.json differs from the contract; run npm run openapi and commit it');
    process.exit(1);
  }
  console.log('docs/openapi.json matches the contract');
} else {
  writeFileSync(target, text);
  console.log(`wrote docs/openapi.json (${text.length} bytes)`);
}

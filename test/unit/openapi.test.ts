// The OpenAPI document: the committed docs/openapi.json is what the contract builds, it names every
// route of the table with its scopes, and every schema in it compiles as JSON Schema 2020-12.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { buildOpenApi, openApiText } from '../../contract/openapi.js';
import { API_ROUTES } from '../../contract/routes.js';

const committed = readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8');

describe('docs/openapi.json', () => {
  it('is exactly what the route table and its zod schemas build (run npm run openapi after a contract change)', () => {
    expect(committed).toBe(openApiText());
  });

  it('has one operation per route, with the route scopes as its bearer scopes', () => {
    const doc = buildOpenApi() as { paths: Record<string, Record<string, { security: Record<string, string[]>[] }>> };
    for (const route of API_ROUTES) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation?.security).toEqual([{ bearer: [...route.scopes] }]);
    }
    const operations = Object.values(doc.paths).flatMap((item) => Object.keys(item));
    expect(operations).toHaveLength(API_ROUTES.length + 1);
  });

  it('holds only schemas that compile as JSON Schema 2020-12', () => {
    const doc = JSON.parse(committed) as { components: unknown; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>> };
    const ajv = new Ajv2020({ strict: true, validateFormats: false, strictTypes: false, strictTuples: false });
    ajv.addSchema({ $id: 'openapi', $defs: { components: doc.components } });
    let compiled = 0;
    for (const item of Object.values(doc.paths)) {
      for (const operation of Object.values(item)) {
        const schemas = [operation.requestBody?.content['application/json']?.schema, ...Object.values(operation.responses).map((r) => r.content?.['application/json']?.schema)];
        for (const schema of schemas) {
          if (schema === undefined) continue;
          ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/$defs/components/')) as object);
          compiled += 1;
        }
      }
    }
    expect(compiled).toBeGreaterThan(API_ROUTES.length * 3);
  });
});

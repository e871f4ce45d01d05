// Checks a named query's Athena text against the Glue table's declared columns
// (contract/audit-trail.ts): every column it reads exists, and every struct field path too.
import { CLOUDTRAIL_COLUMNS, CLOUDTRAIL_PARTITIONS, CLOUDTRAIL_TABLE } from '../../contract/audit-trail.js';

/** A Hive type: a struct's fields by name, an array's element, or a leaf. */
type HiveType = { kind: 'struct'; fields: Map<string, HiveType> } | { kind: 'array'; element: HiveType } | { kind: 'leaf' };

export function parseHiveType(text: string): HiveType {
  let i = 0;
  const read = (): HiveType => {
    if (text.startsWith('struct<', i)) {
      i += 'struct<'.length;
      const fields = new Map<string, HiveType>();
      while (text[i] !== '>') {
        const colon = text.indexOf(':', i);
        const name = text.slice(i, colon);
        i = colon + 1;
        fields.set(name, read());
        if (text[i] === ',') i += 1;
      }
      i += 1;
      return { kind: 'struct', fields };
    }
    if (text.startsWith('array<', i)) {
      i += 'array<'.length;
      const element = read();
      i += 1;
      return { kind: 'array', element };
    }
    if (text.startsWith('map<', i)) {
      // Keys and values are read as leaves: no query walks into a map.
      let depth = 0;
      for (; i < text.length; i += 1) {
        if (text[i] === '<') depth += 1;
        if (text[i] === '>' && --depth === 0) break;
      }
      i += 1;
      return { kind: 'leaf' };
    }
    const match = /^[a-z0-9]+/.exec(text.slice(i));
    i += match?.[0].length ?? 0;
    return { kind: 'leaf' };
  };
  return read();
}

const KEYWORDS = new Set(
  'select from where and or not null is in as on order by asc desc group having limit between like case when then else end distinct true false join cross left inner outer union all with exists'.split(' '),
);

/** The columns and struct paths a query reads that the table does not declare (empty: all exist). */
export function unknownColumns(sql: string): string[] {
  const types = new Map<string, HiveType>([...CLOUDTRAIL_COLUMNS, ...CLOUDTRAIL_PARTITIONS].map((c) => [c.name, parseHiveType(c.type)]));
  const aliases = new Set([...sql.matchAll(/\bAS\s+([a-z_][a-z0-9_]*)/gi)].map((m) => (m[1] ?? '').toLowerCase()));
  // String literals hold JSON paths and values, not columns.
  const code = sql.replace(/'(?:[^']|'')*'/g, "''");
  const unknown: string[] = [];
  for (const m of code.matchAll(/(\)?)(\.?)("?)([a-z_][a-z0-9_]*)"?((?:\.[a-z_][a-z0-9_]*)*)(\s*\()?/gi)) {
    const [, , dot, , word = '', path = '', call] = m;
    const name = word.toLowerCase();
    // A function, a keyword, the table, or a field after `)` (`element_at(…).arn`, checked below).
    if (call !== undefined || KEYWORDS.has(name) || name === CLOUDTRAIL_TABLE || dot === '.') continue;
    if (aliases.has(name) && !types.has(name)) continue;
    let type = types.get(name);
    if (type === undefined) {
      unknown.push(name);
      continue;
    }
    for (const field of path.split('.').filter((f) => f !== '')) {
      const struct: HiveType | undefined = type?.kind === 'struct' ? type : undefined;
      type = struct?.fields.get(field.toLowerCase());
      if (type === undefined) {
        unknown.push(`${name}${path}`);
        break;
      }
    }
  }
  // `element_at(<array column>, n).field`: the field must exist on the array's element.
  for (const m of code.matchAll(/element_at\(\s*([a-z_]+)\s*,\s*\d+\s*\)\.([a-z_]+)/gi)) {
    const array = types.get((m[1] ?? '').toLowerCase());
    const element = array?.kind === 'array' ? array.element : undefined;
    if (element?.kind !== 'struct' || !element.fields.has((m[2] ?? '').toLowerCase())) unknown.push(`${m[1]}[].${m[2]}`);
  }
  return unknown;
}

// zod for the contract's schemas: zod/mini, the tree-shakable build of the same core (about 75 KB
// less in every function bundle than zod classic), with classic's English error messages. Import
// it as a namespace (`import * as z from './zod.js'`): re-exported one by one, unused parts shake out.
import { en } from 'zod/locales';
import { clone, config, globalRegistry, type ZodMiniType } from 'zod/mini';

export * from 'zod/mini';

// Classic loads the English messages when it is imported; mini leaves every message "Invalid input"
// until a locale is set. The API returns these messages, so they must stay the same.
config(en());

/**
 * `schema` with a description for its JSON Schema, as classic's `.describe()` makes it: a copy, so
 * a schema shared by several fields is not described everywhere.
 */
export function described<T extends ZodMiniType>(schema: T, description: string): T {
  const copy = clone(schema);
  globalRegistry.add(copy, { description });
  return copy;
}

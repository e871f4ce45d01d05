// Every operation the local KMS serves, by the name that follows `TrentService.` in X-Amz-Target.
import { aliasOperations } from './aliases.js';
import type { Operation } from './context.js';
import { cryptoOperations } from './crypto.js';
import { grantOperations } from './grants.js';
import { keyOperations } from './keys.js';
import { rotationOperations } from './rotation.js';
import { tagOperations } from './tags.js';

export const OPERATIONS: Readonly<Record<string, Operation>> = {
  ...keyOperations,
  ...aliasOperations,
  ...cryptoOperations,
  ...grantOperations,
  ...tagOperations,
  ...rotationOperations,
};

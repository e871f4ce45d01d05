// Where a new employee's key is placed once one account and Region is not enough: a stable hash
// of the pseudonymous id picks a virtual bucket, and a versioned table maps buckets to shards.
// The placement is decided once, at first consent, and the ledger records it; a key can never
// move (its ciphertexts are bound to it), so later reads follow the ledger, not the hash.
import { createHash } from 'node:crypto';

/** Fixed for the life of the deployment: growing the shard count remaps buckets, never the hash. */
export const VIRTUAL_BUCKETS = 4096;

/** The bucket of an employee id: the first four bytes of SHA-256(id), big-endian, modulo the bucket count. */
export function bucketOf(employeeId: string): number {
  return createHash('sha256').update(employeeId, 'utf8').digest().readUInt32BE(0) % VIRTUAL_BUCKETS;
}

/**
 * The shard for a new employee when `shardCount` shards take new employees, spread evenly over the
 * buckets. Existing employees stay where the ledger says; adding a shard only changes where
 * employees not yet placed go.
 */
export function shardOf(employeeId: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new RangeError(`shardCount must be a whole number of at least 1, got ${shardCount}`);
  return bucketOf(employeeId) % shardCount;
}

// Resource names of the local stack's buckets, tables and queues; in AWS the CDK app names them.
export const LOCAL_RESOURCES = {
  buckets: { captures: 'consent-capture-captures', exports: 'consent-capture-exports' },
  tables: { ledger: 'consent-capture-ledger', batches: 'consent-capture-batches' },
  queues: { purge: 'consent-capture-purge', keySync: 'consent-capture-key-sync' },
} as const;

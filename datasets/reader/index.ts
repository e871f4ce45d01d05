// The dataset reader for training jobs: stream a manifest's records with their consent lineage,
// decrypting each capture object through the training role's grants; withdrawn objects are
// counted, never read. Optionally write them as Parquet shards.
export { DatasetReader, DEFAULT_CONCURRENCY, emptySummary, type DatasetReaderOptions, type ObjectReading, type ReadSummary, type ScopeCounts } from './dataset-reader.js';
export { manifestEntries, ManifestError, parseManifestLine, parseManifestLocation, type ManifestEntry, type ManifestLocation } from './manifest.js';
export { CORRUPT_REASONS, ObjectReader, ReaderUnavailableError, type CorruptReason, type ObjectOutcome } from './object-reader.js';
export { PARQUET_COLUMNS, ParquetShards, type ParquetShardOptions } from './parquet-shards.js';
export { LINEAGE_FIELDS, lineageOf, storedEventSchema, type DatasetRecord, type Lineage, type StoredEvent } from './records.js';

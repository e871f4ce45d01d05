// Writes one CloudTrail-shaped record per KMS call, allowed or denied, to
// `<trailDir>/<account>_CloudTrail_<region>_<yyyymmdd>.jsonl`. Callers pass request parameters
// that never include plaintext or key material; this module is the last line that checks it.
// Each clock hour, and when the writer stops, it signs a digest of the files (trail-digest.ts).
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from './clock.js';
import { TrailDigester } from './trail-digest.js';

export interface TrailIdentity {
  readonly type: 'AssumedRole';
  readonly arn?: string;
  readonly principalId?: string;
  readonly accountId?: string;
  readonly accessKeyId?: string;
  readonly sessionContext?: {
    readonly sessionIssuer: { type: 'Role'; principalId: string; arn: string; accountId: string; userName: string };
  };
}

export interface TrailEvent {
  readonly eventName: string;
  readonly userIdentity: TrailIdentity;
  readonly requestParameters: Readonly<Record<string, unknown>> | null;
  readonly responseElements?: Readonly<Record<string, unknown>> | null;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly resources?: readonly { ARN: string }[];
  readonly requestID: string;
  readonly sourceIPAddress: string;
  readonly userAgent: string;
  readonly readOnly: boolean;
}

/** Fields that must never reach a trail record, whatever a caller passes. */
const FORBIDDEN_FIELDS = new Set(['plaintext', 'Plaintext', 'material', 'materials']);

export class CloudTrailWriter {
  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private readonly account: string,
    private readonly region: string,
    /** Where the digest signing key lives (the KMS state directory). @default - no digests */
    digestKeyDir?: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.digester = digestKeyDir === undefined ? undefined : new TrailDigester(dir, digestKeyDir, account, region);
    this.periodStart = clock.now().toISOString();
    // A restart after a final digest says so at once, so records written from now on read as pending, not as tampering.
    if (this.digester?.lastWasFinal === true) this.digester.write(clock.now(), false);
  }

  private periodStart: string;

  private readonly digester: TrailDigester | undefined;

  /** One open descriptor for the current day's file; written synchronously, so a record is on disk when a call returns. */
  private file: { name: string; fd: number } | undefined;

  /** Closes the file and writes the final digest: after it, any byte no digest covers is tampering. */
  close(): void {
    this.closeFile();
    this.digester?.write(this.clock.now(), true);
  }

  private closeFile(): void {
    if (this.file) closeSync(this.file.fd);
    this.file = undefined;
  }

  private descriptorFor(name: string): number {
    if (this.file?.name !== name) {
      this.closeFile();
      this.file = { name, fd: openSync(join(this.dir, name), 'a') };
    }
    return this.file.fd;
  }

  write(event: TrailEvent): void {
    const now = this.clock.now();
    // CloudTrail digests hourly: the first record of a new hour first closes the previous hour.
    const last = this.digester?.lastEndTime ?? this.periodStart;
    if (this.digester !== undefined && now.toISOString().slice(0, 13) > last.slice(0, 13)) this.digester.write(now, false);
    for (const field of Object.keys(event.requestParameters ?? {})) {
      if (FORBIDDEN_FIELDS.has(field)) throw new Error(`refusing to write a trail record with a ${field} field`);
    }
    const record = {
      eventVersion: '1.08',
      userIdentity: event.userIdentity,
      eventTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: 'kms.amazonaws.com',
      eventName: event.eventName,
      awsRegion: this.region,
      sourceIPAddress: event.sourceIPAddress,
      userAgent: event.userAgent,
      ...(event.errorCode === undefined ? {} : { errorCode: event.errorCode, errorMessage: event.errorMessage }),
      requestParameters: event.requestParameters,
      responseElements: event.responseElements ?? null,
      requestID: event.requestID,
      eventID: randomUUID(),
      readOnly: event.readOnly,
      resources: (event.resources ?? []).map((r) => ({ accountId: this.account, type: 'AWS::KMS::Key', ARN: r.ARN })),
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: this.account,
      eventCategory: 'Management',
    };
    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    writeSync(this.descriptorFor(`${this.account}_CloudTrail_${this.region}_${day}.jsonl`), `${JSON.stringify(record)}\n`);
  }
}

// What the policy-watch queue carries: a CloudTrail PutKeyPolicy record in EventBridge's envelope
// ("AWS API Call via CloudTrail"). In AWS an EventBridge rule with KEY_POLICY_WRITE_PATTERN sends
// it; locally a dispatcher wraps the local trail's records the same way and applies the same pattern.
import * as z from './zod.js';

/** EventBridge's detail-type for a CloudTrail management event. */
export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';

/**
 * Every PutKeyPolicy, allowed or denied. EventBridge cannot see a key's alias, so the function
 * decides which keys are employee keys (by their alias under ALIAS_PREFIX).
 */
export const KEY_POLICY_WRITE_PATTERN = {
  source: ['aws.kms'],
  detailType: [CLOUDTRAIL_DETAIL_TYPE],
  detail: { eventSource: ['kms.amazonaws.com'], eventName: ['PutKeyPolicy'] },
} as const;

/** The CloudTrail record fields policy-watch reads; the rest of the record passes through unread. */
export const keyPolicyWriteRecordSchema = z.looseObject({
  eventID: z.string().check(z.minLength(1), z.maxLength(128)),
  eventTime: z.string().check(z.iso.datetime({ offset: true })),
  eventSource: z.literal('kms.amazonaws.com'),
  eventName: z.literal('PutKeyPolicy'),
  userIdentity: z.looseObject({ arn: z.optional(z.string().check(z.maxLength(2048))) }),
  errorCode: z.optional(z.string().check(z.maxLength(256))),
  requestParameters: z.optional(
    // A denied call may be recorded without its parameters.
    z.nullable(
      z.looseObject({
        keyId: z.string().check(z.minLength(1), z.maxLength(2048)),
        policy: z.string().check(z.minLength(1), z.maxLength(131_072)),
      }),
    ),
  ),
  resources: z.optional(z.array(z.looseObject({ ARN: z.string().check(z.maxLength(2048)) }))),
});
export type KeyPolicyWriteRecord = z.infer<typeof keyPolicyWriteRecordSchema>;

/** The queue's message: EventBridge's envelope around the record. */
export const keyPolicyWriteEventSchema = z.looseObject({
  'detail-type': z.literal(CLOUDTRAIL_DETAIL_TYPE),
  source: z.literal('aws.kms'),
  detail: keyPolicyWriteRecordSchema,
});
export type KeyPolicyWriteEvent = z.infer<typeof keyPolicyWriteEventSchema>;

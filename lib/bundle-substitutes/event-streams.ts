// Stands in for @smithy/core/event-streams in the function bundles (lib/function-bundle.ts says
// why): the S3 and Lambda clients wire an event-stream marshaller into every client they make, but
// only event-stream operations (S3 SelectObjectContent, Lambda InvokeWithResponseStream) use it.

function leftOut(what: string): never {
  throw new Error(`@smithy/core/event-streams is left out of this bundle (${what}): event-stream operations are not supported here`);
}

/** What the clients' config resolver builds at construction: a marshaller no operation of ours calls. */
class LeftOutMarshaller {
  serialize(): never {
    return leftOut('serialize');
  }

  deserialize(): never {
    return leftOut('deserialize');
  }
}

export const eventStreamSerdeProvider = (): LeftOutMarshaller => new LeftOutMarshaller();

/** The original's resolver, word for word: the provider is called once per client. */
export const resolveEventStreamSerdeConfig = <T extends { eventStreamSerdeProvider: (input: T) => unknown }>(input: T): T & { eventStreamMarshaller: unknown } =>
  Object.assign(input, { eventStreamMarshaller: input.eventStreamSerdeProvider(input) });

/** Loaded (dynamically) by the SDK's protocols only for an operation with an event stream. */
export class EventStreamSerde {
  constructor() {
    leftOut('EventStreamSerde');
  }
}

// Injects faults into AWS SDK v3 clients with a middleware: armed rules make matching calls fail
// (before the request is sent, or after its answer arrived, as a lost response), or let another
// writer act just before a call goes out (a race the caller then really loses). Tests build their
// own clients against the local stack and attach one FaultPlan to each.
import type { FinalizeHandlerArguments, HandlerExecutionContext, MetadataBearer, MiddlewareStack } from '@smithy/types';

export interface FaultCall {
  /** The client the call went through, as named in {@link FaultPlan.attach}. */
  readonly service: string;
  /** e.g. `GenerateDataKeyCommand`, `PutObjectCommand`, `QueryCommand`. */
  readonly command: string;
  /** The command's input as the client serialises it (marshalled for DynamoDB). */
  readonly input: Readonly<Record<string, unknown>>;
}

export interface FaultRule {
  /** Which calls fail. */
  readonly match: (call: FaultCall) => boolean;
  /** How many matching calls fail before the rule is spent. @default 1 */
  readonly times?: number;
  /** The error thrown; shaped like an SDK service error. @default - none: the call is sent after `before` */
  readonly error?: () => Error;
  /**
   * Runs just before the matching call is sent, e.g. another writer taking the ledger sequence
   * this call is about to claim. The call then gets the service's real answer.
   */
  readonly before?: (call: FaultCall) => Promise<void>;
  /** Send the request and throw once its answer arrives: the change landed, the caller does not know. @default false */
  readonly afterResponse?: boolean;
}

interface ArmedRule extends FaultRule {
  remaining: number;
}

/** An SDK-shaped service error: name, HTTP status in `$metadata`, and `$fault`. */
export function serviceError(name: string, httpStatusCode: number, message = `injected ${name}`): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, attempts: 1, totalRetryDelay: 0 },
  });
}

export class FaultPlan {
  private rules: ArmedRule[] = [];
  /** Every call seen by an attached client, in order, and whether it was failed. */
  readonly calls: (FaultCall & { failed: boolean })[] = [];

  arm(rule: FaultRule): this {
    this.rules.push({ ...rule, remaining: rule.times ?? 1 });
    return this;
  }

  /** Forgets every rule (spent or not); the call log is kept. */
  clear(): void {
    this.rules = [];
  }

  /** Rules still armed: a test asserts 0 to prove its fault really fired. */
  pending(): number {
    return this.rules.filter((r) => r.remaining > 0).length;
  }

  /** Calls an armed rule failed. */
  injected(): (FaultCall & { failed: boolean })[] {
    return this.calls.filter((c) => c.failed);
  }

  /**
   * Adds the fault middleware in the finalizeRequest step, inside the SDK's retry middleware
   * (which runs at high priority in the same step): with maxAttempts > 1 the SDK retries an
   * injected fault exactly as it would a real one.
   */
  attach<I extends object, O extends MetadataBearer>(client: { middlewareStack: MiddlewareStack<I, O> }, service: string): void {
    client.middlewareStack.add(
      (next, context: HandlerExecutionContext) => async (args: FinalizeHandlerArguments<I>) => {
        const call: FaultCall = { service, command: String(context.commandName ?? 'unknown'), input: args.input as Record<string, unknown> };
        const rule = this.rules.find((r) => r.remaining > 0 && r.match(call));
        if (rule !== undefined) rule.remaining -= 1;
        this.calls.push({ ...call, failed: rule?.error !== undefined });
        if (rule === undefined) return next(args);
        await rule.before?.(call);
        if (rule.error === undefined) return next(args);
        if (rule.afterResponse === true) await next(args);
        throw rule.error();
      },
      { step: 'finalizeRequest', name: `injectFault-${service}`, priority: 'normal' },
    );
  }
}

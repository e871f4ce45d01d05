// The HTTP API: a JWT authorizer for the corporate OIDC issuer, and one route per entry of the
// contract's route table (contract/routes.ts), each requiring that route's scopes.

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionName } from '../../contract/functions.js';
import { type ApiRoute, routeKey } from '../../contract/routes.js';

export interface HttpApiProps {
  /** The route table; normally `API_ROUTES`. */
  readonly routes: readonly ApiRoute[];
  /** The function serving each route's `function`. A route whose function is missing fails synth. */
  readonly handlers: Readonly<Partial<Record<FunctionName, lambda.IFunction>>>;
  /** OIDC issuer URL, exactly as in the tokens' `iss` claim. */
  readonly jwtIssuer: string;
  /** Accepted `aud` values; a token must carry one of them. */
  readonly jwtAudience: readonly string[];
  /** Steady-state requests per second for the whole stage. @default 200 */
  readonly throttleRateLimit?: number;
  /** @default 400 */
  readonly throttleBurstLimit?: number;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly accessLogRetention?: logs.RetentionDays;
}

export class HttpApi extends Construct {
  public readonly api: apigw.HttpApi;
  public readonly stage: apigw.HttpStage;
  public readonly authorizer: HttpJwtAuthorizer;
  public readonly accessLogs: logs.LogGroup;
  public readonly routes: readonly apigw.HttpRoute[];

  constructor(scope: Construct, id: string, props: HttpApiProps) {
    super(scope, id);

    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'consent-capture: consent, capture and erasure API',
      // The default stage is created below, with throttling and access logs.
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted',
      reason: 'Access log lines carry the route key, status, latency and source IP, never a claim, path parameter or body (see the format below); CloudWatch Logs encrypts them at rest with its own keys.',
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 200, burstLimit: props.throttleBurstLimit ?? 400 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        // The route key rather than the path, and no claims or bodies: an access log line names
        // no employee and holds no captured data.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
          }),
        ),
      },
    });

    this.authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: [...props.jwtAudience],
      identitySource: ['$request.header.Authorization'],
    });

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const integrationFor = (route: ApiRoute): HttpLambdaIntegration => {
      const existing = integrations.get(route.function);
      if (existing) return existing;
      const handler = props.handlers[route.function];
      if (!handler) {
        throw new Error(
          `route "${routeKey(route)}" is served by the "${route.function}" function, which the stack does not build: ` +
            `pass it in HttpApi handlers.${route.function}`,
        );
      }
      const integration = new HttpLambdaIntegration(`${route.function}Integration`, handler, {
        payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
      });
      integrations.set(route.function, integration);
      return integration;
    };

    this.routes = props.routes.flatMap((route) =>
      this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: integrationFor(route),
        authorizer: this.authorizer,
        authorizationScopes: [...route.scopes],
      }),
    );
  }

  /** The API's base URL (the `$default` stage), ending in `/`. */
  public get url(): string {
    return this.stage.url;
  }
}

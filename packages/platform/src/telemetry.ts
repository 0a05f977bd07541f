// OpenTelemetry tracing, on only when an OTLP endpoint is configured. Each service's start
// module calls startTelemetry before it imports anything else: the HTTP instrumentation
// hooks `http` as it is loaded, and must be in place before the server loads it.
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { context, DiagLogLevel, diag, propagation, trace } from '@opentelemetry/api';
import { baseSettings, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { isOperationalPath, requestIdHeader } from './request-context.ts';

let running: { shutdown(): Promise<void> } | undefined;

/**
 * Adds the active span's W3C `traceparent` to `headers`, for calls made with Node's fetch,
 * which the HTTP instrumentation does not see: the callee's span then joins the caller's
 * trace. Adds nothing when tracing is off.
 */
export function injectTraceContext(headers: Record<string, string>): void {
  propagation.inject(context.active(), headers);
}

/** Whether the standard OpenTelemetry environment asks for traces to be exported. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return Boolean(endpoint) && !['true', '1'].includes(env.OTEL_SDK_DISABLED ?? '');
}

/**
 * The longest attribute value a span (or its events) keeps, unless the standard
 * OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT or OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT says otherwise
 * (OpenTelemetry's default is no limit). Operation names (the server span's, and
 * @apollo/gateway's on its own spans) and the User-Agent are the client's, up to the size
 * of a document or a header: a 7 KB name was on every span of a request's trace.
 */
const attributeValueLengthLimit = 1_024;

/**
 * A request's query string as its server span keeps it (`url.query`): the parameters'
 * names, each value redacted. A GET's `query` and `variables` are the operation and its
 * inputs (a password given to logIn), and a careless client puts an access token there.
 */
function redactedQuery(target: string | undefined): string | undefined {
  const start = target?.indexOf('?') ?? -1;
  if (target === undefined || start === -1) return undefined;
  const params = new URLSearchParams(target.slice(start + 1));
  for (const name of new Set(params.keys())) params.set(name, 'REDACTED');
  return params.toString();
}

export interface TelemetryOptions {
  /** Tells instances of one service apart (e.g. gateway-1), as `service.instance.id`. */
  instanceId?: string | undefined;
}

/**
 * Starts exporting traces over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; otherwise does nothing and loads nothing, so
 * that an untraced service pays nothing for it. The other standard variables apply
 * (`OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_SCHEDULE_DELAY`, …).
 * Traces only: metrics are Prometheus' (GET /metrics), logs are JSON lines on stdout.
 */
export async function startTelemetry(
  serviceName: string,
  options: TelemetryOptions = {},
): Promise<void> {
  if (running || !tracingConfigured()) return;
  const [{ startNodeSdk }, { HttpInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
  ]);
  running = startNodeSdk({
    resourceAttributes: {
      'service.name': serviceName,
      ...(options.instanceId ? { 'service.instance.id': options.instanceId } : {}),
    },
    metricReaders: [],
    logRecordProcessors: [],
    spanLimits:
      process.env.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT ||
      process.env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT
        ? {}
        : { attributeValueLengthLimit },
    instrumentations: [
      // Server spans for incoming requests, client spans for the gateway's subgraph
      // requests; both carry the W3C traceparent that links a subgraph's span to the
      // gateway's. Health probes and metrics scrapes would only be noise.
      //
      // Calls made with Node's fetch (the gateway's subgraph requests, the tickets service
      // asking the events subgraph) carry the caller's traceparent by injectTraceContext:
      // @opentelemetry/instrumentation-undici needs @opentelemetry/api 1.10, and the
      // benchmark's Hive Gateway pins the workspace root to 1.9.
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => isOperationalPath(request.url),
        // Replaces the query string the instrumentation keeps (it redacts a few cloud
        // signatures by name, never a GET's variables).
        startIncomingSpanHook: (request) => {
          const query = redactedQuery(request.url);
          return query === undefined ? {} : { 'url.query': query };
        },
        headersToSpanAttributes: { server: { requestHeaders: [requestIdHeader] } },
      }),
    ],
  });
  // The SDK's own complaints (an unreachable collector, say) as JSON log lines.
  const logger = createLogger(
    options.instanceId ?? serviceName,
    loadConfig(baseSettings.pick({ LOG_LEVEL: true })).LOG_LEVEL,
  ).child({ component: 'opentelemetry' });
  const details = (args: unknown[]) => (args.length > 0 ? { args } : {});
  diag.setLogger(
    {
      error: (message, ...args) => logger.error(details(args), message),
      warn: (message, ...args) => logger.warn(details(args), message),
      info: (message, ...args) => logger.info(details(args), message),
      debug: (message, ...args) => logger.debug(details(args), message),
      verbose: (message, ...args) => logger.trace(details(args), message),
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  logger.info({ serviceName }, 'exporting traces');
}

/**
 * Exports the spans still buffered; called once the service has stopped. A collector that
 * is gone by then costs the spans, never a clean exit.
 */
export async function shutdownTelemetry(): Promise<void> {
  const sdk = running;
  running = undefined;
  try {
    await sdk?.shutdown();
  } catch (error) {
    diag.warn('could not export the last spans', error);
  }
}

/**
 * Names the operation on the request's server span (`graphql.operation.type` and `.name`),
 * so that a trace shows which operation a `POST /graphql` was. None without tracing.
 */
export function tracingPlugins<TContext extends BaseContext>(): ApolloServerPlugin<TContext>[] {
  if (!running) return [];
  return [
    {
      async requestDidStart() {
        return {
          async didResolveOperation({ operation, operationName }) {
            trace.getActiveSpan()?.setAttributes({
              ...(operation ? { 'graphql.operation.type': operation.operation } : {}),
              ...(operationName ? { 'graphql.operation.name': operationName } : {}),
            });
          },
        };
      },
    },
  ];
}

import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type express from 'express';
import type { GraphQLFormattedError } from 'graphql';
import { Counter, collectDefaultMetrics, Histogram, register } from 'prom-client';

// Prometheus metrics, in this process's default registry, scraped per instance at
// GET /metrics. Each metric is registered once a process, on first use: tests run several
// servers in one process, and a second registration of a name throws.

let requestMetrics:
  | {
      requests: Counter<'operation_type' | 'outcome'>;
      errors: Counter<'code'>;
      duration: Histogram<'operation_type'>;
    }
  | undefined;

function graphqlRequestMetrics() {
  if (requestMetrics) return requestMetrics;
  // Process, heap, event-loop lag and GC metrics (prom-client's standard set).
  collectDefaultMetrics();
  requestMetrics = {
    requests: new Counter({
      name: 'graphql_requests_total',
      help: 'GraphQL requests answered, by operation type and outcome (success: no errors).',
      labelNames: ['operation_type', 'outcome'],
    }),
    errors: new Counter({
      name: 'graphql_errors_total',
      help: 'Errors in GraphQL responses, by extensions.code.',
      labelNames: ['code'],
    }),
    duration: new Histogram({
      name: 'graphql_request_duration_seconds',
      help: 'Time from receiving a GraphQL request to sending its response.',
      labelNames: ['operation_type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  };
  return requestMetrics;
}

let planCacheCounters: { hits: Counter; misses: Counter } | undefined;

/**
 * The gateway's query plan cache lookups: a hit reuses a plan, a miss plans the operation.
 * The hit rate is `hits / (hits + misses)`.
 */
export function queryPlanCacheMetrics(): { hits: Counter; misses: Counter } {
  planCacheCounters ??= {
    hits: new Counter({
      name: 'graphql_query_plan_cache_hits_total',
      help: 'Operations whose query plan was found in the gateway’s plan cache.',
    }),
    misses: new Counter({
      name: 'graphql_query_plan_cache_misses_total',
      help: 'Operations the gateway had to plan (not in its plan cache).',
    }),
  };
  return planCacheCounters;
}

let outboxCounters: { delivered: Counter; refused: Counter; failures: Counter } | undefined;

/**
 * The events service's outbox relay (subgraphs/events/src/outbox): what it delivered, the
 * messages the consumer refused (kept in the outbox, sent again later), and the deliveries
 * that failed whole (the consumer away or failing; retried with backoff). A refused count
 * that grows, or failures that keep coming, is a change that has not reached the tickets
 * service.
 */
export function outboxRelayMetrics(): { delivered: Counter; refused: Counter; failures: Counter } {
  outboxCounters ??= {
    delivered: new Counter({
      name: 'outbox_messages_delivered_total',
      help: 'Outbox messages the consumer acknowledged as applied.',
    }),
    refused: new Counter({
      name: 'outbox_messages_refused_total',
      help: 'Outbox messages the consumer refused as changes it cannot apply; each stays undelivered and is sent again later.',
    }),
    failures: new Counter({
      name: 'outbox_delivery_failures_total',
      help: 'Outbox deliveries that failed whole (the consumer unreachable, slow or failing); retried with backoff.',
    }),
  };
  return outboxCounters;
}

let passwordAdmissionCounters: { refused: Counter } | undefined;

/** The gateway's admission of new passwords (gateway/src/password-admission.ts). */
export function passwordAdmissionMetrics(): { refused: Counter } {
  passwordAdmissionCounters ??= {
    refused: new Counter({
      name: 'graphql_new_passwords_refused_at_gateway_total',
      help: 'Sign-ups and password changes the gateway refused itself, while the users service’s hashing queue was full.',
    }),
  };
  return passwordAdmissionCounters;
}

let writeBudgetCounter: Counter | undefined;

/** The gateway's per-account write budget (gateway/src/write-budget.ts). */
export function writeBudgetMetrics(): { refused: Counter } {
  writeBudgetCounter ??= new Counter({
    name: 'graphql_writes_refused_at_gateway_total',
    help: 'Mutations the gateway refused whole because their account had spent its write budget.',
  });
  return { refused: writeBudgetCounter };
}

let sharedFetchCounter: Counter<'subgraph'> | undefined;

/**
 * Subgraph queries that joined an identical one already in flight instead of being sent
 * (gateway/src/inflight.ts): what in-flight sharing saves, by subgraph.
 */
export function sharedSubgraphFetchMetrics(): Counter<'subgraph'> {
  sharedFetchCounter ??= new Counter({
    name: 'graphql_subgraph_fetches_shared_total',
    help: 'Subgraph queries answered by an identical one already in flight, not sent themselves.',
    labelNames: ['subgraph'],
  });
  return sharedFetchCounter;
}

let responseCacheCounters:
  | {
      lookups: Counter<'result' | 'reason'>;
      invalidated: Counter;
      stores: Counter<'outcome'>;
      localDropped: Counter<'cause'>;
    }
  | undefined;

/** The gateway's response cache (gateway/src/response-cache.ts). */
export function responseCacheMetrics() {
  responseCacheCounters ??= {
    lookups: new Counter({
      name: 'graphql_response_cache_lookups_total',
      help: 'Response cache lookups of anonymous queries: hit, or miss by reason (absent, invalidated, refresh, expired, error).',
      labelNames: ['result', 'reason'],
    }),
    invalidated: new Counter({
      name: 'graphql_response_cache_invalidated_total',
      help: 'Cached responses found invalidated by a newer events tag version, and discarded.',
    }),
    stores: new Counter({
      name: 'graphql_response_cache_stores_total',
      help: 'Responses written to the cache, by outcome (stored; raced: an event changed while its query ran, so it was not stored; failed).',
      labelNames: ['outcome'],
    }),
    localDropped: new Counter({
      name: 'graphql_response_cache_local_dropped_total',
      help: 'Entries the first level in memory dropped, by cause (invalidation; heartbeat: Redis missed its heartbeats; subscription: the subscription was lost or restarted).',
      labelNames: ['cause'],
    }),
  };
  return responseCacheCounters;
}

/**
 * Counts every GraphQL response and its errors, and times it. The outcome and the error
 * codes are read from what the client receives, after formatting and masking.
 */
export function requestMetricsPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  const { requests, errors, duration } = graphqlRequestMetrics();
  return {
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({ operation, response }) {
          const operationType = operation?.operation ?? 'unknown';
          const body = response.body;
          const responseErrors: readonly GraphQLFormattedError[] =
            (body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors) ?? [];
          for (const error of responseErrors) {
            errors.inc({ code: String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR') });
          }
          requests.inc({
            operation_type: operationType,
            outcome: responseErrors.length > 0 ? 'error' : 'success',
          });
          duration.observe(
            { operation_type: operationType },
            (performance.now() - started) / 1_000,
          );
        },
      };
    },
  };
}

/** Serves the metrics in Prometheus' text format. */
export async function serveMetrics(_req: express.Request, res: express.Response): Promise<void> {
  res.setHeader('content-type', register.contentType);
  res.end(await register.metrics());
}

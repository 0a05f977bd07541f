export { inRequestedOrder, queryableIds } from './batch.ts';
export {
  baseSettings,
  ConfigurationError,
  flagSetting,
  httpUrlSetting,
  integerSetting,
  loadConfig,
  maxTimerMs,
  millisecondsSetting,
  type NearMiss,
  nearMisses,
  optionalFlagSetting,
  optionalUrlSetting,
  portSetting,
  postgresUrlSetting,
  seedsDemoData,
  settingsCheck,
  urlSetting,
  warnOfNearMisses,
} from './config.ts';
export {
  badUserInput,
  type CommonErrorCode,
  commonErrorCodes,
  failure,
  failures,
  isClosedAccount,
  isDatabaseUnavailable,
  isDuplicateKey,
  isTransactionConflict,
  isUuid,
  notFound,
  retryOnConflict,
  serviceUnavailable,
  violatedCheck,
} from './errors.ts';
export {
  type DeliveryBatches,
  deliveryBatches,
  maxDeliveryAgeMs,
  maxDeliveryBytes,
  plausibleDelivery,
  relaySecret,
  signDelivery,
  verifyDelivery,
} from './event-relay.ts';
export { endOf, hasEnded } from './event-time.ts';
export {
  assertionHeader,
  assertionMaxAgeSeconds,
  type ForwardedRequest,
  GatewayAssertionVerifier,
  redisUsedAssertions,
  signedSubgraphHeaders,
  subgraphSecret,
  subgraphSecretSettings,
  UntrustedRequestError,
  type UsedAssertionStore,
  type VerifiedRequest,
  type VerifierOptions,
} from './gateway-assertion.ts';
export {
  jsonBody,
  maxJsonDepth,
  type RunningService,
  runService,
  type ServeOptions,
  searchParametersOf,
  serveGraphQL,
  servicePaths,
  shutdownSettings,
  stopOnSignals,
  stopSignals,
} from './http.ts';
export { idempotencyKeySchema, requestHash, tryLockKey } from './idempotency.ts';
export { canonicalId, withCanonicalIds } from './ids.ts';
export {
  type ApolloLogger,
  apolloLogger,
  createLogger,
  cutForLog,
  cutPathForLog,
  type FailureLog,
  failureLog,
  type Logger,
  loggedValueLength,
} from './logger.ts';
export {
  outboxRelayMetrics,
  passwordAdmissionMetrics,
  queryPlanCacheMetrics,
  responseCacheMetrics,
  sharedSubgraphFetchMetrics,
  writeBudgetMetrics,
} from './metrics.ts';
export { connectRedis, type RedisConnection, redisSettings } from './redis.ts';
export {
  acceptableRequestId,
  currentRequestAbandoned,
  currentRequestId,
  requestIdHeader,
  requestIdOf,
  whileAwaited,
} from './request-context.ts';
export {
  invalidateCachedResponses,
  type ResponseCacheInvalidation,
  type ResponseCacheTag,
  responseCacheChannel,
  responseCacheEventKey,
  responseCacheEventVersionTtlMs,
  responseCacheHeartbeatWindowMs,
  responseCacheStartVersionLua,
  responseCacheTagKey,
  responseCacheTags,
} from './response-cache.ts';
export {
  applyRetention,
  type RetentionLog,
  type RetentionRule,
  RetentionSchedule,
  retentionBatchSize,
  retentionIntervalMs,
} from './retention.ts';
export {
  type Revocation,
  RevocationList,
  RevocationPublisher,
  type RevocationStore,
  revocationCheckIntervalMs,
  revocationLifetimeMs,
  revokedBeforeNow,
  type TokenFacts,
} from './revocations.ts';
export {
  checkedDateTime,
  DateTime,
  InvalidInputValue,
  isStorableDate,
  SafeInt,
} from './scalars.ts';
export {
  composeServiceUrl,
  defaultGatewayPort,
  defaultPublicPort,
  type GatewayName,
  gatewayNames,
  localServiceUrl,
  type ServiceName,
  type SubgraphName,
  servicePorts,
  serviceRoutes,
  subgraphNames,
  tokenIssuer,
} from './services.ts';
export { type SignedBodyOptions, signedBody } from './signed-body.ts';
export {
  authSettings,
  type RequestInfo,
  readinessDeadlineMs,
  runSubgraph,
  type SetUpOptions,
  type SubgraphDefinition,
  type SubgraphSetup,
  startSubgraph,
  stopWaitMs,
  subgraphStartSettings,
} from './subgraph.ts';
export { createSubgraphServer, readSchema } from './subgraph-server.ts';
export { displayText, proseText } from './text-rules.ts';
export { maxPageSize, pageSize, parseInput } from './validation.ts';

export {
  AccessTokenVerifier,
  accessTokenLifetimeSeconds,
  accessTokenType,
  clockToleranceSeconds,
  issuedAccessTokensExtension,
  remoteKeySet,
  signingAlgorithm,
  type TokenParties,
  type VerifierOptions,
} from './access-tokens.ts';
export {
  type IdentityWithRole,
  isOwnerOrAdmin,
  requireOwnerOrAdmin,
  requireRole,
  requireViewer,
} from './authorization.ts';
export { forbidden, rejectRequest, unauthenticated } from './errors.ts';
export { type Identity, isRole, type Role, roles } from './identity.ts';
export {
  type HashingQueueOptions,
  type HashingTurn,
  hashingQueues,
  hashPassword,
  longerThanAnyPassword,
  type PasswordHash,
  parsePasswordHash,
  passwordPolicy,
  passwordProblem,
  passwordQueueExtension,
  passwordWorkBusy,
  refuseWhenHashingIsBusy,
  reserveHashingTurn,
  scryptParameters,
  verifyAgainstDecoy,
  verifyPassword,
} from './passwords.ts';

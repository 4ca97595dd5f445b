/**
 * Authentication. Mesh credentials: Ed25519-signed bearer credentials, the one scope vocabulary,
 * bearer middleware, protected mode and credential files. Host agents: HMAC request signing and
 * verification, a persisted replay window, default-deny scopes, a per-agent rate limit and
 * token sources (static or Vault KV v2).
 * @module
 */
export {
  createMeshAuth,
  type MeshAuth,
  type MeshAuthOptions,
  type Principal,
  principalOf,
  requireGrant,
  requireMeshScope,
} from "./bearer.ts";
export {
  bodySignature,
  type BodySignatureFailure,
  type BodySignatureInput,
  type BodySignOptions,
  checkBodySignature,
  decodeBodySignature,
  signBodyRequest,
} from "./body_signing.ts";
export {
  BODY_SIGNING_WARNING,
  DEFAULT_RATE_LIMIT_PER_MIN,
  DEFAULT_REPLAY_MAX_ENTRIES,
  DEFAULT_VAULT_REFRESH_MS,
  SIGNING_MODES,
  type SigningMode,
  staticToken,
  type TokenConfig,
  tokenHealth,
  type TokenSource,
  tokenSourceFrom,
} from "./agent/mod.ts";
export { signedFetch, type SignedRequestInit, type SignerIdentity } from "./client.ts";
export {
  type MeshAuthConfig,
  type MeshAuthContext,
  meshAuthFields,
  meshAuthFor,
} from "./config.ts";
export {
  CredentialError,
  type CredentialFailure,
  isCredentialSubject,
  parsePublicKey,
  resolveAuthKeys,
  resolveSecretSetting,
  SUBJECT_PATTERN,
} from "./settings/mod.ts";
export {
  type Claims,
  CredentialVerifier,
  decodeClaims,
  generateIssuer,
  issueCredential,
  type IssueOptions,
  type Issuer,
  issuerFromSeed,
  keyIdOf,
  looksLikeCredential,
} from "./credential.ts";
export {
  createIssuerFiles,
  ensurePrivateDir,
  ISSUER_KEY_FILE,
  ISSUER_PUB_FILE,
  readIssuerKey,
  SECRET_FILE_MODE,
  writeSecretFile,
} from "./files.ts";
export { Grants, isMeshScope } from "./grants.ts";
export {
  DEFAULT_REVOCATION_RECHECK_MS,
  MAX_REVOCATION_FILE_BYTES,
  type MeshAuthSettings,
  meshAuthSettings,
  RevocationFileError,
  RevocationList,
  type RevokedIds,
} from "./mesh/mod.ts";
export { type RateDecision, RateLimiter } from "./rate_limit.ts";
export type { ReplayStore, ReplayStoreOptions, ReplayVerdict } from "./replay.ts";
export { openReplayStore } from "./replay_open.ts";
export { Scopes } from "./scopes.ts";
export {
  HEADER_AGENT_ID,
  HEADER_REQUEST_ID,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  type SignedParts,
  type SignOptions,
  signRequest,
  verifySignature,
} from "./signing.ts";
export {
  type Caller,
  callerOf,
  requireScope,
  signedAuth,
  type SignedAuthOptions,
} from "./verify.ts";

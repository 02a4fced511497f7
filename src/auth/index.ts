/**
 * Identity: token providers (static, Rucio userpass, JupyterHub, sources), OIDC flows on
 * oauth4webapi (authorization code + PKCE, device, refresh, client credentials, token exchange),
 * token stores, and JWT claims / verification on jose. Files and environment variables are in
 * `dlaas/node`.
 * @module
 */
export {
  OAuthError,
  OAuthProtocolError,
  StateMismatchError,
  IssuerMismatchError,
  InsecureIssuerError,
  TokenValidationError,
  TokenExpiredError,
  TokenSourceError,
  NoTokenError,
  TokenStoreError,
  TokenWarning,
  type TokenInvalidReason,
  type TokenSourceProblem,
} from './errors.js';
export type { AuthHttpOptions } from './http.js';
export { RUCIO_TOKEN, checkToken, decodeToken, defaultOnWarning, isJwt, tokenExpiry, type TokenClaims, type TokenRequirements } from './claims.js';
export { createTokenVerifier, verifyToken, type TokenVerifier, type TokenVerifierOptions } from './verify.js';
export { RefreshingTokenProvider, type IssuedToken, type LoadContext, type RefreshGetTokenOptions, type RefreshOptions, type RefreshingProviderInit, type TokenLoader } from './refreshing.js';
export { SourceTokenProvider, envCandidate, parseTokenText, type CandidateContent, type SourceOptions, type SourceProviderInit, type TokenCandidate } from './sources.js';
export { staticToken } from './static.js';
export { rucioUserpass, type RucioUserpassOptions } from './userpass.js';
export { jupyterHubToken, type JupyterHubTokenOptions } from './jupyterhub.js';
export { memoryStore, webStorageStore, chromeStorageStore, type TokenStore, type WebStorageLike, type ChromeStorageAreaLike } from './store.js';
export { discoverIssuer, type DiscoveryOptions, type IssuerMetadata } from './oidc/discovery.js';
export {
  OidcClient,
  ACCESS_TOKEN_TYPE,
  DEFAULT_LOGIN_SCOPE,
  TOKEN_EXCHANGE_GRANT_TYPE,
  type AuthorizationRequest,
  type AuthorizationRequestOptions,
  type DeviceLoginOptions,
  type DevicePrompt,
  type GrantParameters,
  type OidcClientOptions,
  type TokenExchangeOptions,
} from './oidc/client.js';
export { OidcSession, type OidcGrantType } from './oidc/session.js';
export {
  CALLBACK_MESSAGE_TYPE,
  handleRedirectCallback,
  loginWithPopup,
  loginWithRedirect,
  notifyOpener,
  type MessageEventLike,
  type PopupHost,
  type PopupLoginOptions,
  type PopupWindowLike,
  type RedirectCallbackOptions,
  type RedirectLoginOptions,
} from './oidc/browser.js';

/**
 * The real OpenID Provider (npm `oidc-provider`) of the tests: it lives in src/lake/op.ts, where the
 * embedded local Data Lake (`dlaas lake`, `npm run demo`) runs it too.
 */
export * from '../../src/lake/op.ts';

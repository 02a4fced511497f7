import { ErrorCode } from '../../src/core/errors.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import {
  InsecureIssuerError,
  OidcClient,
  TokenExpiredError,
  TokenValidationError,
  checkToken,
  createTokenVerifier,
  decodeToken,
  isJwt,
  tokenExpiry,
  RUCIO_TOKEN,
} from '../../src/auth/index.js';
import { errorOf, expectNoSecrets, makeKey, mint, startJwksServer, type TestKey } from './helpers.js';
import { startTestOP, TEST_CLIENTS, type TestOP } from './op.js';
import { DlaasError } from '../../src/index.js';

const ISS = 'https://iam.example.org/';

describe('decoding claims', () => {
  it('exposes exp, aud, scope and wlcg.groups, normalised to lists', async () => {
    const key = await makeKey('k');
    const token = await mint(key, { iss: ISS, aud: ['rucio', 'fts'], scope: 'openid profile wlcg.groups', 'wlcg.groups': ['/escape', '/escape/lofar'], client_id: 'cli' });
    const c = decodeToken(token);
    expect(c.iss).toBe(ISS);
    expect(c.aud).toEqual(['rucio', 'fts']);
    expect(c.scope).toEqual(['openid', 'profile', 'wlcg.groups']);
    expect(c.groups).toEqual(['/escape', '/escape/lofar']);
    expect(c.clientId).toBe('cli');
    expect(c.exp).toBeInstanceOf(Date);
    expect(tokenExpiry(token)?.getTime()).toBe(c.exp?.getTime());
    expect(isJwt(token)).toBe(true);
  });

  it('tells Rucio tokens and garbage from JWTs', () => {
    expect(isJwt('root-ddmlab-unknown-0123456789abcdef')).toBe(false);
    expect(tokenExpiry('root-ddmlab-unknown-0123456789abcdef')).toBeUndefined();
    expect(isJwt('eyJhbGciOi.eyJzdWIiOi.sig')).toBe(false);
    const e = (() => {
      try {
        decodeToken('a.b.c');
      } catch (err) {
        return err as TokenValidationError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(TokenValidationError);
    expect(e?.reason).toBe('malformed');
  });

  it('warns when a token for Rucio lacks audience rucio or scope openid profile (and not for good ones)', async () => {
    const key = await makeKey('k');
    const good = await mint(key, { iss: ISS, aud: 'rucio', scope: 'openid profile offline_access' });
    expect(checkToken(good, RUCIO_TOKEN)).toEqual([]);
    const bad = await mint(key, { iss: ISS, aud: 'https://wlcg.cern.ch/jwt/v1/any', scope: 'openid storage.read:/' });
    const w = checkToken(bad, RUCIO_TOKEN);
    expect(w.map((x) => x.claim)).toEqual(['aud', 'scope']);
    expect(w[0]?.message).toMatch(/lacks audience "rucio"/);
    expect(w[1]?.message).toMatch(/lacks scope profile/);
    const expired = await mint(key, { iss: ISS }, { expiresIn: -10 });
    expect(checkToken(expired, RUCIO_TOKEN).map((x) => x.claim)).toEqual(['exp']);
    expect(checkToken('rucio-native-token-abcdef', RUCIO_TOKEN)).toEqual([]);
    for (const x of w) expectNoSecrets(x, [bad]);
  });
});

describe('verifying tokens against the issuer JWKS', () => {
  let k1: TestKey;
  let k2: TestKey;
  let other: TestKey;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  beforeAll(async () => {
    [k1, k2, other] = await Promise.all([makeKey('k1'), makeKey('k2'), makeKey('k1')]);
    jwks = await startJwksServer([k1.jwk]);
  });
  afterAll(() => jwks.close());
  const verifier = (extra: object = {}) => createTokenVerifier({ issuer: ISS, audience: 'rucio', scope: 'openid profile', jwksUri: jwks.url, allowInsecureLoopback: true, jwksCooldown: 0, ...extra });

  it('accepts a good token and returns its claims', async () => {
    const token = await mint(k1, { iss: ISS, 'wlcg.groups': ['/escape'] });
    const c = await verifier()(token);
    expect(c.sub).toBe('alice');
    expect(c.groups).toEqual(['/escape']);
  });

  it('rejects wrong iss, wrong aud, missing scope, expired, not-yet-valid, bad signature, alg none — each typed, no token in the error', async () => {
    const verify = verifier();
    const cases: [string, string, string][] = [
      ['iss', await mint(k1, { iss: 'https://evil.example.org/' }), ErrorCode.tokenInvalid],
      ['iss', await mint(k1, { iss: 'https://iam.example.org' }), ErrorCode.tokenInvalid], // trailing slash matters
      ['aud', await mint(k1, { iss: ISS, aud: 'esap' }), ErrorCode.tokenInvalid],
      ['scope', await mint(k1, { iss: ISS, scope: 'openid' }), ErrorCode.tokenInvalid],
      ['exp', await mint(k1, { iss: ISS }, { expiresIn: -120 }), ErrorCode.tokenExpired],
      ['nbf', await mint(k1, { iss: ISS }, { notBefore: 300 }), ErrorCode.tokenInvalid],
      ['signature', await mint(other, { iss: ISS }), ErrorCode.tokenInvalid], // same kid, other key
      ['alg', new UnsecuredJWT({ iss: ISS, aud: 'rucio', scope: 'openid profile', sub: 'x' }).setExpirationTime('5m').encode(), ErrorCode.tokenInvalid],
      ['malformed', 'not-a-jwt', ErrorCode.tokenInvalid],
    ];
    for (const [reason, token, code] of cases) {
      const e = await errorOf(verify(token));
      expect(e, reason).toBeInstanceOf(TokenValidationError);
      expect((e as TokenValidationError).reason, `${reason}: ${e.message}`).toBe(reason);
      expect((e as TokenValidationError).code).toBe(code);
      expectNoSecrets(e, [token]);
    }
    const expired = await errorOf(verify(await mint(k1, { iss: ISS }, { expiresIn: -120 })));
    expect(expired).toBeInstanceOf(TokenExpiredError);
    expect((expired as TokenExpiredError).expiredAt.getTime()).toBeLessThan(Date.now());
  });

  it('tolerates clock skew within clockTolerance', async () => {
    const justExpired = await mint(k1, { iss: ISS }, { expiresIn: -10 });
    await expect(verifier({ clockTolerance: 30 })(justExpired)).resolves.toBeDefined();
    await expect(verifier({ clockTolerance: 0 })(justExpired)).rejects.toBeInstanceOf(TokenExpiredError);
  });

  it('follows a JWKS key rotation (refetches for an unknown kid) and refuses a retired key', async () => {
    const verify = verifier();
    await verify(await mint(k1, { iss: ISS }));
    const before = jwks.hits();
    jwks.setKeys([k2.jwk, k1.jwk]); // the issuer publishes k2 and starts signing with it
    await expect(verify(await mint(k2, { iss: ISS }))).resolves.toMatchObject({ sub: 'alice' });
    expect(jwks.hits()).toBe(before + 1);
    jwks.setKeys([k2.jwk]); // k1 retired
    const withOld = await mint(k1, { iss: ISS });
    await new Promise((r) => setTimeout(r, 5));
    const fresh = verifier();
    const e = await errorOf(fresh(withOld));
    expect((e as TokenValidationError).reason).toBe('key');
    jwks.setKeys([k1.jwk]);
  });

  it('refuses plain-http issuers and key URLs outside loopback, and on loopback without the option', async () => {
    expect(() => createTokenVerifier({ issuer: 'http://iam.example.org/' })).toThrow(InsecureIssuerError);
    expect(() => createTokenVerifier({ issuer: 'http://127.0.0.1:1/' })).toThrow(/allowInsecureLoopback/);
    const v = createTokenVerifier({ issuer: ISS, jwksUri: 'http://keys.example.org/jwks' });
    const e = await errorOf(v(await mint(k1, { iss: ISS })));
    expect(e).toBeInstanceOf(InsecureIssuerError);
    expect((e as InsecureIssuerError).code).toBe(ErrorCode.insecureIssuer);
  });
});

describe('verifying tokens of the test OP (keys found by discovery)', () => {
  let op: TestOP;
  beforeAll(async () => {
    op = await startTestOP();
  });
  afterAll(() => op.close());

  it('discovers jwks_uri and verifies an OP-issued token; forged and foreign-issuer tokens are refused', async () => {
    const svc = new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.service.clientId, clientSecret: TEST_CLIENTS.service.clientSecret, allowInsecureLoopback: true });
    const session = await svc.clientCredentials({ scope: 'openid profile' });
    const token = await session.getToken();
    const verify = createTokenVerifier({ issuer: op.issuer, audience: 'rucio', scope: 'openid profile', allowInsecureLoopback: true });
    await expect(verify(token)).resolves.toMatchObject({ iss: op.issuer, aud: ['rucio'], sub: TEST_CLIENTS.service.clientId });
    const k = await makeKey(`test-${new URL(op.issuer).port}`); // the OP's kid, another key
    const forged = await new SignJWT({ sub: 'mallory', aud: 'rucio', scope: 'openid profile' }).setProtectedHeader({ alg: 'RS256', kid: k.kid }).setIssuer(op.issuer).setExpirationTime('5m').sign(k.privateKey);
    expect(((await errorOf(verify(forged))) as TokenValidationError).reason).toBe('signature');
    const wrongIssuer = createTokenVerifier({ issuer: `${op.issuer}/realms/x`, allowInsecureLoopback: true });
    const e = await errorOf(wrongIssuer(token));
    expect(e).toBeInstanceOf(DlaasError);
    expect([ErrorCode.oauthProtocol, ErrorCode.issuerMismatch]).toContain((e as DlaasError).code);
    expectNoSecrets(e, [token, TEST_CLIENTS.service.clientSecret]);
  });
});

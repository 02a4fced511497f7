/**
 * The Rucio server's JWT acceptance rules (rucio-rest.md §1.4) as the emulator applies them, and
 * tokens of every OIDC flow used end to end against the emulated Rucio (`accounts.whoami()`,
 * `auth.validate()`), the emulator fetching the OP's keys from its `jwks_uri`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RucioClient, UnauthenticatedError } from '../../src/index.js';
import { OidcClient, type OidcSession } from '../../src/auth/index.js';
import { createRucioEmulator } from '../../src/testing.js';
import { createJwtValidator, oidcIdentity, type JwtValidator } from '../../src/testing/rucio/jwt.js';
import { errorOf, makeKey, mint, startJwksServer, type TestKey } from './helpers.js';
import { TEST_CLIENTS, startTestOP, type TestOP } from './op.js';

const ISS = 'https://iam-escape.cloud.cnaf.infn.it/';

describe('createJwtValidator: how Rucio accepts an IdP JWT', () => {
  let key: TestKey;
  let rogue: TestKey;
  let accept: JwtValidator;
  beforeAll(async () => {
    [key, rogue] = await Promise.all([makeKey('iam-1'), makeKey('iam-1')]);
    accept = createJwtValidator({ issuers: [{ issuer: ISS, jwks: { keys: [key.jwk] } }], identities: new Map([[oidcIdentity('a1b2-c3', ISS), 'jdoe']]) });
  });

  it('maps SUB=<sub>, ISS=<iss> to the account when aud ⊇ rucio and scope ⊇ openid profile', async () => {
    const token = await mint(key, { iss: ISS, sub: 'a1b2-c3', aud: ['fts', 'rucio'], scope: ['openid', 'profile', 'wlcg.groups'] });
    const ok = await accept(token);
    expect(ok).toMatchObject({ account: 'jdoe', identity: `SUB=a1b2-c3, ISS=${ISS}`, audience: 'fts rucio', scope: 'openid profile wlcg.groups' });
    expect(ok?.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses what the server refuses (→ 401 CannotAuthenticate)', async () => {
    const base = { iss: ISS, sub: 'a1b2-c3' };
    const refused: [string, string][] = [
      ['expired', await mint(key, base, { expiresIn: -1 })],
      ['issuer without trailing slash', await mint(key, { ...base, iss: ISS.slice(0, -1) })],
      ['unknown issuer', await mint(key, { ...base, iss: 'https://other-iam.example.org/' })],
      ['bad signature', await mint(rogue, base)],
      ['audience without rucio', await mint(key, { ...base, aud: 'fts' })],
      ['scope without profile', await mint(key, { ...base, scope: 'openid email' })],
      ['no scope claim', await mint(key, { ...base, scope: undefined })],
      ['no aud claim', await mint(key, { ...base, aud: undefined })],
      ['identity not mapped', await mint(key, { ...base, sub: 'someone-else' })],
      ['a Rucio token', 'jdoe-jdoe-unknown-0123456789abcdef0123456789abcdef'],
      ['two parts', 'abc.def'],
      ['three parts, not a JWT', 'abc.def.ghi'],
    ];
    for (const [why, token] of refused) expect(await accept(token), why).toBeUndefined();
  });

  it('fetches the issuer keys from jwks_uri, and takes an identity lookup function', async () => {
    const jwks = await startJwksServer([key.jwk]);
    try {
      const remote = createJwtValidator({ issuers: [{ issuer: ISS, jwksUri: jwks.url }], identities: (id) => (id.startsWith('SUB=') ? 'mapped' : undefined) });
      expect(await remote(await mint(key, { iss: ISS }))).toMatchObject({ account: 'mapped' });
    } finally {
      await jwks.close();
    }
  });
});

describe('end to end: OIDC tokens of every flow used with the Rucio emulator', () => {
  let op: TestOP;
  let rucio: ReturnType<typeof createRucioEmulator>;
  beforeAll(async () => {
    op = await startTestOP();
    rucio = createRucioEmulator({ oidc: { issuers: [{ issuer: op.issuer, jwksUri: `${op.issuer}/jwks` }] } });
    rucio.addAccount('alice');
    rucio.addAccount('svc', { type: 'SERVICE' });
    rucio.addOidcIdentity('alice', op.issuer, 'alice');
    rucio.addOidcIdentity(TEST_CLIENTS.service.clientId, op.issuer, 'svc');
  });
  afterAll(() => op?.close());

  const whoami = async (session: OidcSession) => (await new RucioClient({ baseUrl: rucio.baseUrl, fetch: rucio.fetch, token: session }).accounts.whoami()).account;

  it('device, authorization code, refresh, client credentials and token exchange tokens are accepted', async () => {
    const cli = new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.device.clientId, allowInsecureLoopback: true });
    let code = '';
    const device = await cli.deviceLogin({ onPrompt: (p) => void (code = p.userCode), wait: async () => op.approveDevice(code, 'alice') });
    expect(await whoami(device)).toBe('alice');
    await device.refresh();
    expect(await whoami(device)).toBe('alice');

    const app = new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.app.clientId, allowInsecureLoopback: true });
    const req = await app.createAuthorizationRequest({ redirectUri: 'http://127.0.0.1:9/callback' });
    const authCode = await app.completeAuthorization(await op.browse(req.url, 'alice'));
    expect(await whoami(authCode)).toBe('alice');

    const svc = new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.service.clientId, clientSecret: TEST_CLIENTS.service.clientSecret, allowInsecureLoopback: true });
    expect(await whoami(await svc.clientCredentials({ scope: 'openid profile' }))).toBe('svc');
    const exchanged = await svc.exchangeToken(device);
    expect(await whoami(exchanged)).toBe('alice');

    // The server's view of an accepted JWT.
    const info = await new RucioClient({ baseUrl: rucio.baseUrl, fetch: rucio.fetch }).auth.validate(await exchanged.getToken());
    expect(info).toMatchObject({ account: 'alice', identity: `SUB=alice, ISS=${op.issuer}` });
  });

  it('a token lacking scope profile is refused with 401 CannotAuthenticate', async () => {
    const svc = new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.service.clientId, clientSecret: TEST_CLIENTS.service.clientSecret, allowInsecureLoopback: true });
    const narrow = await svc.clientCredentials({ scope: 'openid' });
    const e = await errorOf(whoami(narrow));
    expect(e).toBeInstanceOf(UnauthenticatedError);
    expect((e as UnauthenticatedError).exceptionClass).toBe('CannotAuthenticate');
  });
});

/**
 * What the server enforces: tokens, the generic permission policy, Accept negotiation, error format,
 * routing (404/405 pages), and the login/validate endpoints.
 */
import { describe, expect, it } from 'vitest';
import { createRucioEmulator } from '../../src/testing.js';
import { call, smallWorld } from './helpers.js';

describe('tokens', () => {
  it('no token 400 ValueError, unknown token 401, expired token 401; login issues Rucio-style tokens', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const { rucio } = smallWorld({ now: () => now, tokenLifetimeSeconds: 60 });
    const token = rucio.issueToken('alice');
    expect(token).toMatch(/^alice-alice-unknown-[0-9a-f]{32}$/);
    expect((await call(rucio, token, 'GET', '/scopes/')).status).toBe(200);
    expect((await call(rucio, null, 'GET', '/scopes/')).json()).toEqual({ ExceptionClass: 'ValueError', ExceptionMessage: 'Token must be set.' });
    const bogus = await call(rucio, 'root-ddmlab-unknown-00000000000000000000000000000000', 'GET', '/scopes/');
    expect([bogus.status, bogus.json()]).toEqual([401, { ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Cannot authenticate with given credentials' }]);
    now = new Date('2030-01-01T00:01:00Z');
    expect((await call(rucio, token, 'GET', '/scopes/')).status).toBe(401);
    const validate = await call(rucio, null, 'GET', '/auth/validate', undefined, { 'X-Rucio-Auth-Token': token });
    expect([validate.status, validate.json()]).toEqual([500, { ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Token found but expired since Tue, 01 Jan 2030 00:01:00 UTC.' }]);
    const unknown = await call(rucio, null, 'GET', '/auth/validate', undefined, { 'X-Rucio-Auth-Token': 'nope' });
    expect([unknown.status, unknown.headers.get('ExceptionMessage')]).toEqual([500, 'NoneType: None']);
    expect(() => rucio.issueToken('nobody')).toThrow();
  });

  it('userpass: wrong password, missing headers, unknown identity, default account, 206 for several accounts', async () => {
    const rucio = createRucioEmulator();
    rucio.addAccount('bob', { password: 'pw', username: 'shared' });
    rucio.addAccount('carol', { password: 'pw', username: 'shared' });
    const login = (h: Record<string, string>) => call(rucio, null, 'GET', '/auth/userpass', undefined, h);
    const wrong = await login({ 'X-Rucio-Account': 'root', 'X-Rucio-Username': 'ddmlab', 'X-Rucio-Password': 'wrong' });
    expect(wrong.text).toBe('{"ExceptionClass": "CannotAuthenticate", "ExceptionMessage": "Cannot authenticate to account root with given credentials"}');
    expect((await login({ 'X-Rucio-Username': 'ddmlab' })).json()).toEqual({ ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Cannot authenticate without passing all required arguments' });
    expect((await login({ 'X-Rucio-Username': 'ghost', 'X-Rucio-Password': 'x' })).json()).toMatchObject({ ExceptionClass: 'IdentityNotFound' });
    const root = await login({ 'X-Rucio-Username': 'ddmlab', 'X-Rucio-Password': 'secret' });
    expect([root.status, root.headers.get('X-Rucio-Auth-Account')]).toEqual([200, 'root']);
    const several = await login({ 'X-Rucio-Username': 'shared', 'X-Rucio-Password': 'pw' });
    expect([several.status, several.text, several.headers.get('X-Rucio-Auth-Accounts')]).toEqual([206, '["bob", "carol"]', 'bob,carol']);
    const carol = await login({ 'X-Rucio-Account': 'carol', 'X-Rucio-Username': 'shared', 'X-Rucio-Password': 'pw', 'X-Rucio-AppID': 'sdk' });
    expect(carol.headers.get('X-Rucio-Auth-Token')).toMatch(/^carol-shared-sdk-[0-9a-f]{32}$/);
    const whoami = await call(rucio, carol.headers.get('X-Rucio-Auth-Token'), 'GET', '/accounts/whoami');
    expect([whoami.status, whoami.headers.get('Location')]).toEqual([303, 'carol']);
  });
});

describe('generic permission policy', () => {
  it('non-root accounts write only in their own scopes (call 77); admins may do what root may', async () => {
    const { rucio, alice } = smallWorld();
    expect((await call(rucio, alice, 'POST', '/dids/user.alice/ds', { type: 'DATASET' })).status).toBe(201);
    const denied = await call(rucio, alice, 'POST', '/dids/test/ds', { type: 'DATASET' });
    expect(denied.text).toBe('{"ExceptionClass": "AccessDenied", "ExceptionMessage": "Account alice can not add data identifier to scope test. "}');
    const attach = await call(rucio, alice, 'POST', '/dids/test/x/dids', { dids: [] });
    expect([attach.status, attach.headers.get('ExceptionClass')]).toEqual([401, 'AccessDenied']);
    const close = await call(rucio, alice, 'PUT', '/dids/test/x/status', { open: false });
    expect([close.status, close.headers.get('ExceptionClass')]).toEqual([401, 'AccessDenied']);
    rucio.addAccount('ops', { admin: true });
    const ops = rucio.issueToken('ops');
    expect((await call(rucio, ops, 'POST', '/dids/test/ds', { type: 'DATASET' })).status).toBe(201);
    expect((await call(rucio, ops, 'POST', '/rses/SITE_X', {})).status).toBe(201);
  });

  it('RSE creation is admin-only (call 83); replicas on non-scratch RSEs and new file DIDs too; DELETE /replicas is refused to all', async () => {
    const { rucio, root, alice } = smallWorld();
    expect((await call(rucio, alice, 'POST', '/rses/SITE_X', {})).text).toBe('{"ExceptionClass": "AccessDenied", "ExceptionMessage": "Account alice can not add RSE. "}');
    const files = [{ scope: 'user.alice', name: 'f', bytes: 1 }];
    expect((await call(rucio, alice, 'POST', '/replicas', { rse: 'SITE_A', files })).json()).toMatchObject({ ExceptionClass: 'AccessDenied', ExceptionMessage: 'Account alice can not add file replicas on SITE_A. ' });
    rucio.addRse('ALICE_SCRATCHDISK');
    const scratch = await call(rucio, alice, 'POST', '/replicas', { rse: 'ALICE_SCRATCHDISK', files });
    expect([scratch.status, scratch.headers.get('ExceptionClass')]).toEqual([401, 'AccessDenied']);
    expect(scratch.json()).toMatchObject({ ExceptionMessage: expect.stringContaining('can not add file DIDs on ALICE_SCRATCHDISK') });
    expect((await call(rucio, root, 'POST', '/replicas', { rse: 'SITE_A', files })).status).toBe(201);
    expect((await call(rucio, alice, 'POST', '/replicas', { rse: 'ALICE_SCRATCHDISK', files })).status).toBe(201);
    const del = await call(rucio, root, 'DELETE', '/replicas', { rse: 'SITE_A', files });
    expect([del.status, del.headers.get('ExceptionClass')]).toEqual([401, 'AccessDenied']);
    expect((await call(rucio, alice, 'PUT', '/replicas', { rse: 'SITE_A', files: [{ scope: 'user.alice', name: 'f', state: 'U' }] })).status).toBe(401);
  });

  it('duplicates are 409 with the recorded classes', async () => {
    const { rucio, root } = smallWorld();
    expect((await call(rucio, root, 'POST', '/dids/test/ds', { type: 'DATASET' })).status).toBe(201);
    expect((await call(rucio, root, 'POST', '/dids/test/ds', { type: 'DATASET' })).headers.get('ExceptionClass')).toBe('DataIdentifierAlreadyExists');
    expect((await call(rucio, root, 'POST', '/rses/SITE_A', {})).json()).toEqual({ ExceptionClass: 'Duplicate', ExceptionMessage: "RSE 'SITE_A' already exists!" });
    expect((await call(rucio, root, 'POST', '/accounts/alice', { type: 'USER', email: 'a@b.c' })).json()).toEqual({ ExceptionClass: 'Duplicate', ExceptionMessage: "Account ID 'alice' already exists!" });
    expect((await call(rucio, root, 'POST', '/accounts/root/scopes/test')).json()).toEqual({ ExceptionClass: 'Duplicate', ExceptionMessage: "Scope 'test' already exists!" });
    await call(rucio, root, 'POST', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'f', bytes: 1 }] });
    await call(rucio, root, 'POST', '/dids/test/ds/dids', { dids: [{ scope: 'test', name: 'f' }] });
    const again = await call(rucio, root, 'POST', '/dids/test/ds/dids', { dids: [{ scope: 'test', name: 'f' }] });
    expect([again.status, again.headers.get('ExceptionClass')]).toEqual([409, 'FileAlreadyExists']);
    const ignored = await call(rucio, root, 'POST', '/dids/attachments', { attachments: [{ scope: 'test', name: 'ds', dids: [{ scope: 'test', name: 'f' }] }], ignore_duplicate: true });
    expect(ignored.status).toBe(201);
    const mismatch = await call(rucio, root, 'POST', '/dids/attachments', [{ scope: 'test', name: 'ds', dids: [{ scope: 'test', name: 'f', bytes: 2 }] }]);
    expect([mismatch.status, mismatch.json()]).toEqual([412, { ExceptionClass: 'FileConsistencyMismatch', ExceptionMessage: "bytes mismatch for 'test:f': 2!=1" }]);
    expect((await call(rucio, root, 'PUT', '/dids/test/ds/status', { open: false })).status).toBe(200);
    const closed = await call(rucio, root, 'PUT', '/dids/test/ds/status', { open: false });
    expect(closed.json()).toEqual({ ExceptionClass: 'UnsupportedOperation', ExceptionMessage: "The status of the data identifier 'test:ds' cannot be changed" });
    expect((await call(rucio, root, 'POST', '/dids/test/ds/dids', { dids: [] })).json()).toEqual({ ExceptionClass: 'UnsupportedOperation', ExceptionMessage: "Data identifier 'test:ds' is closed" });
  });
});

describe('wire conventions', () => {
  it('negotiates Accept per endpoint (406 with the recorded message; */* and q-values accepted)', async () => {
    const { rucio, root } = smallWorld();
    const rses = (accept: string) => call(rucio, root, 'GET', '/rses/', undefined, { Accept: accept });
    expect((await rses('application/json')).json()).toEqual({ ExceptionClass: 'UnsupportedRequestedContentType', ExceptionMessage: "The requested content type application/json is not supported. Use ['application/x-json-stream']." });
    expect((await rses('*/*')).status).toBe(200);
    expect((await rses('application/*')).status).toBe(200);
    expect((await rses('text/html, application/x-json-stream;q=0.1')).status).toBe(200);
    const ping = await call(rucio, null, 'GET', '/ping', undefined, { Accept: 'text/plain' });
    expect(ping.status).toBe(406);
    const login = await call(rucio, null, 'GET', '/auth/userpass', undefined, { Accept: 'application/json' });
    expect(login.json()).toMatchObject({ ExceptionMessage: "The requested content type application/json is not supported. Use ['application/octet-stream']." });
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: [{ name: 'f', content: 'x' }] });
    const metalink = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'ds' }] }, { Accept: 'application/metalink4+xml' });
    expect(metalink.headers.get('content-type')).toBe('application/metalink4+xml');
    expect(metalink.text).toContain('<hash type="md5">9dd4e461268c8034f5c8564e155c67a6</hash>');
    expect(metalink.text).toContain('<url location="SITE_A" domain="wan" priority="1" client_extract="false">davs://a.example.org:443/rucio/test/');
  });

  it('cuts long ExceptionMessage headers at 125 characters and flattens newlines; the body keeps everything', async () => {
    const { rucio, alice } = smallWorld();
    rucio.addRse('X_SCRATCHDISK');
    const files = [{ scope: 'user.alice', name: 'a'.repeat(120), bytes: 1 }];
    const r = await call(rucio, alice, 'POST', '/replicas', { rse: 'X_SCRATCHDISK', files });
    const header = r.headers.get('ExceptionMessage') as string;
    expect(header.length).toBe(128);
    expect(header.endsWith('...')).toBe(true);
    expect(header).not.toContain('\n');
    expect((r.json() as { ExceptionMessage: string }).ExceptionMessage).toContain('\n');
  });

  it('routes as werkzeug: 404 and 405 pages, names with slashes after the scope', async () => {
    const { rucio, root } = smallWorld();
    const missing = await call(rucio, root, 'GET', '/nothing');
    expect([missing.status, missing.headers.get('content-type')]).toEqual([404, 'text/html; charset=utf-8']);
    expect(missing.text).toContain('<title>404 Not Found</title>');
    const method = await call(rucio, root, 'PATCH', '/rules/');
    expect([method.status, method.headers.get('Allow')]).toEqual([405, 'GET, HEAD, OPTIONS, POST']);
    const head = await call(rucio, root, 'HEAD', '/rses/SITE_A');
    expect([head.status, head.text, head.headers.get('content-type')]).toEqual([200, '', 'application/json']);
    expect((await call(rucio, root, 'POST', '/dids/test/a%2Fb%2Fc', { type: 'CONTAINER' })).status).toBe(201);
    expect((await call(rucio, root, 'GET', '/dids/test/a/b/c')).json()).toMatchObject({ name: 'a/b/c', type: 'CONTAINER' });
    const noSlash = await call(rucio, root, 'GET', '/dids/justascope');
    expect([noSlash.status, noSlash.headers.get('ExceptionClass')]).toEqual([400, 'ValueError']);
    const bad = await call(rucio, root, 'POST', '/dids/test/x', '{not json');
    expect(bad.json()).toEqual({ ExceptionClass: 'ValueError', ExceptionMessage: 'cannot decode json parameter dictionary' });
    const list = await call(rucio, root, 'POST', '/dids/test/x', '[]');
    expect(list.json()).toEqual({ ExceptionClass: 'TypeError', ExceptionMessage: 'body must be a json dictionary' });
  });

  it('logs every request for request-economy assertions', async () => {
    const { rucio, root } = smallWorld();
    rucio.resetLog();
    await call(rucio, root, 'GET', '/rses/?expression=SITE_A');
    await call(rucio, null, 'GET', '/rses/');
    expect(rucio.requests).toEqual([
      { method: 'GET', path: '/rses/', query: 'expression=SITE_A', status: 200 },
      { method: 'GET', path: '/rses/', query: '', status: 400 },
    ]);
  });

  it('lfns2pfns translates on the server side, also for non-deterministic RSEs holding the replica', async () => {
    const { rucio, root } = smallWorld();
    const r = await call(rucio, root, 'GET', '/rses/SITE_A/lfns2pfns?lfn=test:file1&lfn=user.jdoe:f.txt');
    expect(r.json()).toEqual({ 'test:file1': 'davs://a.example.org:443/rucio/test/80/25/file1', 'user.jdoe:f.txt': expect.stringMatching(/^davs:\/\/a\.example\.org:443\/rucio\/user\/jdoe\/[0-9a-f]{2}\/[0-9a-f]{2}\/f\.txt$/) });
    rucio.addRse('ND', { deterministic: false, protocols: [{ scheme: 'https', hostname: 'nd.example.org', port: 443, prefix: '/nd/' }] });
    const noPfn = await call(rucio, root, 'POST', '/replicas', { rse: 'ND', files: [{ scope: 'test', name: 'n1', bytes: 1 }] });
    expect(noPfn.json()).toEqual({ ExceptionClass: 'UnsupportedOperation', ExceptionMessage: 'PFN needed for this (non deterministic) RSE ND ' });
    expect((await call(rucio, root, 'POST', '/replicas', { rse: 'ND', files: [{ scope: 'test', name: 'n1', bytes: 1, pfn: 'https://nd.example.org:443/nd/x/y/n1' }] })).status).toBe(201);
    expect((await call(rucio, root, 'GET', '/rses/ND/lfns2pfns?lfn=test:n1')).json()).toEqual({ 'test:n1': 'https://nd.example.org:443/nd/x/y/n1' });
    const wrong = await call(rucio, root, 'POST', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'd1', bytes: 1, pfn: 'davs://a.example.org:443/rucio/elsewhere/d1' }] });
    expect([wrong.status, wrong.headers.get('ExceptionClass')]).toEqual([400, 'InvalidPath']);
  });
});

describe('collections', () => {
  it('creates a dataset with metadata, content and rules in one call, atomically', async () => {
    const { rucio, root } = smallWorld();
    await call(rucio, root, 'POST', '/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'f', bytes: 1 }] });
    const failed = await call(rucio, root, 'POST', '/dids/test/ds', { type: 'DATASET', dids: [{ scope: 'test', name: 'f' }, { scope: 'test', name: 'missing' }] });
    expect([failed.status, failed.headers.get('ExceptionClass')]).toEqual([404, 'DataIdentifierNotFound']);
    expect((await call(rucio, root, 'GET', '/dids/test/ds')).status).toBe(404);
    const ok = await call(rucio, root, 'POST', '/dids/test/ds', { type: 'DATASET', meta: { project: 'p' }, dids: [{ scope: 'test', name: 'f' }], rules: [{ account: 'root', copies: 1, rse_expression: 'SITE_B' }] });
    expect(ok.status).toBe(201);
    expect(((await call(rucio, root, 'GET', '/dids/test/ds/rules')).lines() as { state: string }[]).map((r) => r.state)).toEqual(['REPLICATING']);
    expect((await call(rucio, root, 'GET', '/dids/test/f/parents')).lines()).toEqual([{ scope: 'test', name: 'ds', type: 'DATASET' }]);
    const container = await call(rucio, root, 'POST', '/dids', [{ scope: 'test', name: 'c', type: 'CONTAINER', dids: [{ scope: 'test', name: 'ds' }] }]);
    expect(container.status).toBe(201);
    const mixed = await call(rucio, root, 'POST', '/dids/test/c/dids', { dids: [{ scope: 'test', name: 'f' }] });
    expect(mixed.json()).toEqual({ ExceptionClass: 'UnsupportedOperation', ExceptionMessage: 'Adding a file (test:f) to a container (test:c) is forbidden' });
    const top = await call(rucio, root, 'POST', '/dids/test/top', { type: 'CONTAINER', dids: [{ scope: 'test', name: 'c' }] });
    expect(top.status).toBe(201);
    const kinds = await call(rucio, root, 'POST', '/dids/test/c/dids', { dids: [{ scope: 'test', name: 'top' }] });
    expect(kinds.json()).toEqual({ ExceptionClass: 'UnsupportedOperation', ExceptionMessage: "Mixed collection is not allowed: 'test:top' is a CONTAINER(expected type: DATASET)" });
    expect((await call(rucio, root, 'POST', '/dids/test/inner', { type: 'CONTAINER' })).status).toBe(201);
    expect((await call(rucio, root, 'POST', '/dids/test/outer', { type: 'CONTAINER', dids: [{ scope: 'test', name: 'inner' }] })).status).toBe(201);
    const loop = await call(rucio, root, 'POST', '/dids/test/inner/dids', { dids: [{ scope: 'test', name: 'outer' }] });
    expect(loop.json()).toEqual({ ExceptionClass: 'UnsupportedOperation', ExceptionMessage: 'Circular attachment detected. test:outer is already a parent of test:inner' });
  });
});

describe('JWTs from an OpenID Provider (rucio-rest §1.4)', () => {
  it('accepts a signed JWT with the expected aud/scope for a mapped identity, and nothing else', async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const iss = 'https://iam.example.org/';
    const rucio = createRucioEmulator({ oidc: { issuers: [{ issuer: iss, jwks: { keys: [jwk] } }] } });
    rucio.addAccount('alice');
    rucio.addOidcIdentity('a1b2', iss, 'alice');
    const sign = (claims: Record<string, unknown>, sub = 'a1b2') => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(privateKey);
    const good = await sign({ aud: 'rucio', scope: 'openid profile storage.read:/' });
    const whoami = await call(rucio, good, 'GET', '/accounts/whoami');
    expect([whoami.status, whoami.headers.get('Location')]).toEqual([303, 'alice']);
    const validate = await call(rucio, null, 'GET', '/auth/validate', undefined, { 'X-Rucio-Auth-Token': good });
    expect(validate.text).toMatch(/^\{'account': 'alice', 'identity': 'SUB=a1b2, ISS=https:\/\/iam\.example\.org\/', 'lifetime': datetime\.datetime\(.*\), 'audience': 'rucio', 'authz_scope': 'openid profile storage\.read:\/', 'vo': 'def'\}$/);
    for (const bad of [await sign({ aud: 'other', scope: 'openid profile' }), await sign({ aud: 'rucio', scope: 'openid' }), await sign({ aud: 'rucio', scope: 'openid profile' }, 'unmapped')]) {
      expect((await call(rucio, bad, 'GET', '/scopes/')).status).toBe(401);
    }
  });
});

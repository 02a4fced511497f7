import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ApiError,
  BadRequestError,
  ConfigError,
  ConflictError,
  ConnectionError,
  DlaasError,
  DuplicateError,
  ErrorCode,
  ForbiddenError,
  InvalidArgumentError,
  InvalidDidError,
  NotFoundError,
  RateLimitError,
  ResponseValidationError,
  ServerError,
  StreamError,
  TimeoutError,
  Transport,
  UnauthenticatedError,
  UnsupportedContentTypeError,
  apiErrorFrom,
  parseRucioErrorBody,
  redactUrl,
} from '../../src/index.js';

interface WireCall {
  n: number;
  title: string;
  request: { method: string; target: string; headers: [string, string][] };
  response: { status: number; headers: [string, string][]; body: string };
}
const fixture = new URL('../fixtures/rucio-wire.json', import.meta.url);
const calls: WireCall[] = existsSync(fixture) ? JSON.parse(readFileSync(fixture, 'utf8')) : [];

// What each recorded ExceptionClass must become.
const expected: Record<string, new (...a: never[]) => ApiError> = {
  CannotAuthenticate: UnauthenticatedError,
  ValueError: UnauthenticatedError, // "Token must be set." — no token sent
  Duplicate: DuplicateError,
  DataIdentifierAlreadyExists: DuplicateError,
  DuplicateRule: DuplicateError,
  RSENotFound: NotFoundError,
  DataIdentifierNotFound: NotFoundError,
  UnsupportedOperation: ServerError,
  InvalidRSEExpression: ConflictError,
  AccessDenied: ForbiddenError,
  UnsupportedRequestedContentType: UnsupportedContentTypeError,
};

describe('error mapping of every recorded Rucio error', () => {
  const errors = calls.filter((c) => c.response.status >= 400);
  it('has the recorded error calls', () => {
    expect(errors.length).toBeGreaterThanOrEqual(15);
  });
  for (const call of errors) {
    it(`#${call.n} ${call.title}`, async () => {
      const t = new Transport({
        service: 'rucio',
        baseUrl: 'http://127.0.0.1:8080/',
        retry: { limit: 0 },
        fetch: async () => new Response(call.response.body, { status: call.response.status, headers: call.response.headers }),
      });
      const err = (await t.request({ method: call.request.method as 'GET', path: call.request.target }).catch((e: unknown) => e)) as ApiError;
      const body = JSON.parse(call.response.body) as { ExceptionClass: string; ExceptionMessage: string };
      expect(err).toBeInstanceOf(ApiError);
      expect(err.status).toBe(call.response.status);
      expect(err.exceptionClass).toBe(body.ExceptionClass);
      // The body's message is complete; the header may be truncated to 125 chars.
      expect(err.exceptionMessage).toBe(body.ExceptionMessage);
      const cls = expected[body.ExceptionClass];
      expect(cls, `no expectation for ${body.ExceptionClass}`).toBeDefined();
      expect(err).toBeInstanceOf(cls!);
    });
  }
});

describe('parseRucioErrorBody', () => {
  it('prefers the full body message over the truncated header', () => {
    const long = 'x'.repeat(200);
    const h = new Headers({ ExceptionClass: 'InvalidObject', ExceptionMessage: `${long.slice(0, 125)}...` });
    expect(parseRucioErrorBody(JSON.stringify({ ExceptionClass: 'InvalidObject', ExceptionMessage: long }), h)).toEqual({ exceptionClass: 'InvalidObject', exceptionMessage: long });
  });
  it('falls back to headers, then to a one-line excerpt', () => {
    expect(parseRucioErrorBody('', new Headers({ ExceptionClass: 'RuleNotFound', ExceptionMessage: 'gone' }))).toEqual({ exceptionClass: 'RuleNotFound', exceptionMessage: 'gone' });
    expect(parseRucioErrorBody('<h1>Bad\nGateway</h1>')).toEqual({ bodyExcerpt: '<h1>Bad Gateway</h1>' });
    expect(parseRucioErrorBody('{"detail": "Authentication credentials were not provided."}')).toEqual({ bodyExcerpt: 'Authentication credentials were not provided.' });
    expect(parseRucioErrorBody('')).toEqual({});
    expect(parseRucioErrorBody('{broken')).toEqual({ bodyExcerpt: '{broken' });
  });
  it('maps by status when there is no class', () => {
    const base = { service: 'rucio', method: 'GET', url: 'http://h/x' } as const;
    expect(apiErrorFrom({ ...base, status: 400 })).toBeInstanceOf(BadRequestError);
    expect(apiErrorFrom({ ...base, status: 403 })).toBeInstanceOf(ForbiddenError);
    expect(apiErrorFrom({ ...base, status: 404 })).toBeInstanceOf(NotFoundError);
    expect(apiErrorFrom({ ...base, status: 409 })).toBeInstanceOf(ConflictError);
    expect(apiErrorFrom({ ...base, status: 429 })).toBeInstanceOf(RateLimitError);
    expect(apiErrorFrom({ ...base, status: 503 })).toBeInstanceOf(ServerError);
    expect(apiErrorFrom({ ...base, status: 418 }).code).toBe(ErrorCode.api);
  });
});

describe('secrets never leak through errors', () => {
  const TOKEN = 'root-ddmlab-unknown-76be82293d404bd0b07a592841e208c5';
  const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA';
  const PASSWORD = 'hunter2-very-secret';
  const secrets = [TOKEN, JWT, PASSWORD];

  function assertClean(err: Error) {
    const seen = new Set<unknown>();
    const texts: string[] = [];
    const walk = (v: unknown, depth: number) => {
      if (depth > 5 || v === null || v === undefined || seen.has(v)) return;
      if (typeof v === 'string') return void texts.push(v);
      if (typeof v !== 'object') return void texts.push(String(v));
      seen.add(v);
      if (v instanceof Error) texts.push(v.message, v.stack ?? '', String(v));
      for (const k of Object.getOwnPropertyNames(v)) walk((v as Record<string, unknown>)[k], depth + 1);
      walk((v as { cause?: unknown }).cause, depth + 1);
    };
    walk(err, 0);
    texts.push(JSON.stringify(err), String(err), err.stack ?? '');
    for (const t of texts) for (const s of secrets) expect(t, `${err.name} leaks a secret`).not.toContain(s);
  }

  it('for every error class', async () => {
    // Make the transport see the secrets (as it does when it sends them).
    const echo = new Transport({
      service: 'rucio',
      baseUrl: 'https://h/',
      retry: { limit: 0 },
      auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' },
      fetch: async (input) => {
        const req = input as Request;
        const msg = `bad token ${req.headers.get('X-Rucio-Auth-Token')} and password ${req.headers.get('X-Rucio-Password')}`;
        return new Response(JSON.stringify({ ExceptionClass: 'CannotAuthenticate', ExceptionMessage: msg }), { status: 401, headers: { ExceptionClass: 'CannotAuthenticate', ExceptionMessage: msg } });
      },
    });
    const fromServer = (await echo.request({ method: 'GET', path: `auth/userpass?access_token=${TOKEN}`, headers: { 'X-Rucio-Password': PASSWORD } }).catch((e: unknown) => e)) as ApiError;
    expect(fromServer).toBeInstanceOf(UnauthenticatedError);
    expect(fromServer.url).toContain('access_token=%5Bredacted%5D');

    const cause = new Error(`connect failed with Authorization: Bearer ${JWT}`);
    const ctx = { service: 'rucio', method: 'GET', url: `https://user:${PASSWORD}@h/x?token=${TOKEN}`, cause } as const;
    const api = { ...ctx, status: 500, exceptionClass: 'X', exceptionMessage: `token ${TOKEN}`, bodyExcerpt: JWT };
    const all: Error[] = [
      fromServer,
      new DlaasError(`message with ${TOKEN}`, { cause }),
      new InvalidArgumentError('token', `bad ${JWT}`, { cause }),
      new InvalidDidError(`scope:${JWT}`, 'nope'),
      new ConfigError('RUCIO_ACCESS_TOKEN', `value ${TOKEN} rejected`),
      new ApiError(api),
      ...[BadRequestError, UnauthenticatedError, ForbiddenError, NotFoundError, ConflictError, DuplicateError, UnsupportedContentTypeError, RateLimitError, ServerError].map((C) => new C(api)),
      new ConnectionError(ctx),
      new TimeoutError({ ...ctx, timeoutMs: 5 }),
      new AbortError(`aborted ${TOKEN}`, { cause }),
      new ResponseValidationError('GET /x', 'a', 'bad', { token: TOKEN, jwt: JWT }, { cause }),
      new StreamError(3, `bad line ${JWT}`, { cause }),
    ];
    for (const e of all) {
      expect(e).toBeInstanceOf(DlaasError);
      expect(typeof (e as DlaasError).code).toBe('string');
      assertClean(e);
    }
  });

  it('redactUrl strips user-info, fragments and secret query values', () => {
    expect(redactUrl('https://u:p@h/x?token=abc&scope=test&code=zzz#frag')).toBe('https://h/x?token=%5Bredacted%5D&scope=test&code=%5Bredacted%5D');
    expect(redactUrl('::not a url')).toBe('[unparseable url]');
  });
});

// Minimal ambient types for the parts of oidc-provider 9 the test OpenID Provider uses
// (the package ships no declarations and @types/oidc-provider is not installed).
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface KoaContextLike {
    method: string;
    path: string;
    status: number;
    body: unknown;
    type: string;
    req: IncomingMessage;
    oidc: {
      params: Record<string, string | string[] | undefined>;
      client: ClientLike;
      provider: Provider;
    };
  }
  export interface ClientLike {
    clientId: string;
  }
  export interface GrantLike {
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }
  export interface DeviceCodeLike {
    params?: Record<string, unknown>;
    scope?: string;
    accountId?: string;
    grantId?: string;
    authTime?: number;
    resource?: string | string[];
    error?: string;
    errorDescription?: string;
    save(): Promise<string>;
  }
  export interface TokenLike {
    resourceServer?: unknown;
    extra?: Record<string, unknown>;
    expiration: number;
    scope?: string;
    save(): Promise<string>;
  }
  export type Middleware = (ctx: KoaContextLike, next: () => Promise<void>) => Promise<void>;

  export class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(fn: Middleware): void;
    on(event: string, listener: (...args: unknown[]) => void): this;
    registerGrantType(name: string, handler: (ctx: KoaContextLike) => Promise<void>, params?: string | string[] | Set<string>, dupes?: string | string[] | Set<string>): void;
    readonly Grant: new (init: { accountId: string; clientId: string }) => GrantLike;
    readonly DeviceCode: { findByUserCode(code: string): Promise<DeviceCodeLike | undefined> };
    readonly AccessToken: new (init: Record<string, unknown>) => TokenLike;
    readonly ResourceServer: new (identifier: string, data: Record<string, unknown>) => unknown;
  }
  export const errors: {
    InvalidGrant: new (description?: string) => Error;
    InvalidTarget: new (description?: string) => Error;
    InvalidRequest: new (description?: string) => Error;
  };
  export default Provider;
}

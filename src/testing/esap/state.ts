/**
 * The emulated ESAP database: Django users (Basic and knox credentials), `EsapUserProfile` rows,
 * `EsapShoppingItem` rows (one id sequence, recreated on every PATCH), browser sessions as
 * mozilla-django-oidc stores them, and the identity provider's userinfo answers for bearer tokens.
 *
 * Web-standard APIs only.
 * @module
 */
import { pyDumps, toPy, type PyValue } from './python.js';

/** A Django `auth.User`. */
export interface UserRecord {
  readonly username: string;
  email: string;
  password: string | undefined;
  readonly knoxTokens: Set<string>;
  active: boolean;
}

/** An `EsapUserProfile` row (only the columns the API shows or uses). */
export interface ProfileRecord {
  readonly user_name: string;
  full_name: string | null;
  user_email: string;
  uid: string | null;
  oidc_id_token: string | null;
  oidc_access_token: string | null;
  id_token_expiration: string | null;
}

/** An `EsapShoppingItem` row: `item_data` is the JSONField's value (normally a JSON *string*). */
export interface ItemRecord {
  readonly id: number;
  readonly item_data: PyValue;
  readonly user_profile: string | null;
}

/** A Django session (the keys mozilla-django-oidc writes at login). */
export interface SessionRecord {
  readonly key: string;
  /** The logged-in Django user, if any. */
  username: string | undefined;
  /** Logged in through the OIDC backend (else e.g. the admin login): `SessionRefresh` only handles those. */
  oidcBackend: boolean;
  oidc_id_token?: string;
  oidc_access_token?: string;
  /** Epoch seconds. */
  oidc_id_token_expiration?: number;
}

/**
 * Claims an identity provider's userinfo endpoint returns for a token.
 *
 * @example
 * ```ts
 * esap.addIdentity('carol-token', { sub: 'c1', email: 'carol@example.org' });
 * ```
 */
export interface UserinfoClaims {
  readonly sub?: string;
  readonly email?: string;
  readonly preferred_username?: string;
  readonly name?: string;
  readonly [claim: string]: unknown;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Django's `get_random_string(n)` alphabet (`lower` for session keys). */
export function randomString(n: number, lower = false): string {
  const alphabet = lower ? ALNUM.slice(0, 26) + ALNUM.slice(52) : ALNUM;
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/** @internal The store. */
export class EsapStore {
  readonly users = new Map<string, UserRecord>();
  readonly profiles = new Map<string, ProfileRecord>();
  items: ItemRecord[] = [];
  readonly sessions = new Map<string, SessionRecord>();
  /** Bearer token → userinfo claims (seeded identities). */
  readonly identities = new Map<string, UserinfoClaims>();
  #nextId = 1;

  /** The profile's items in row order. */
  cart(userName: string): ItemRecord[] {
    return this.items.filter((i) => i.user_profile === userName);
  }

  /** Delete the profile's items (`EsapShoppingItem.objects.filter(user_profile=…).delete()`). */
  deleteCart(userName: string): void {
    this.items = this.items.filter((i) => i.user_profile !== userName);
  }

  /** Create one item row. */
  createItem(itemData: PyValue, userProfile: string | null): ItemRecord {
    const item: ItemRecord = { id: this.#nextId++, item_data: itemData, user_profile: userProfile };
    this.items.push(item);
    return item;
  }

  /** What a GUI PATCH does: delete the cart, then store `json.dumps(item)` for each item. */
  replaceCart(userName: string, items: readonly unknown[]): void {
    this.deleteCart(userName);
    for (const item of items) this.createItem(pyDumps(toPy(item)), userName);
  }

  /** Django users whose email matches, case-insensitively (`email__iexact`). */
  usersByEmail(email: string): UserRecord[] {
    const e = email.toLowerCase();
    return [...this.users.values()].filter((u) => u.email.toLowerCase() === e);
  }
}

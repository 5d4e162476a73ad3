/**
 * Checking user name and password pairs (Basic credentials, the token
 * endpoint's password grant) with throttling (throttle.ts): an attempt is
 * counted before its password is compared, and a user throttled from the
 * client's address gets 429 TOOMANYREQUESTS with Retry-After before any
 * password is looked at. Verified pairs are remembered briefly (keyed by an
 * HMAC under a per-process random key, never the password) so that Basic
 * auth does not cost a bcrypt comparison on every request.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { RegistryError } from '../oci/errors.js';
import type { UserStore } from './htpasswd.js';
import { LoginThrottle } from './throttle.js';
import { Live } from '../live.js';

export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/** Parses an `Authorization: Basic …` value; undefined when it is not Basic or is malformed. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic +([A-Za-z0-9+/=]{1,4096}) *$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 1000;

/**
 * A Live UserStore may be replaced while the checker runs (reload): each check
 * uses the users current when it starts, and the remembered pairs are forgotten
 * when the users change (a changed or removed password stops working at once).
 */
export class PasswordChecker {
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, number>();
  private readonly users: Live<UserStore>;
  /** The UserStore the remembered pairs were verified against. */
  private verifiedBy: UserStore | undefined;

  constructor(
    users: UserStore | Live<UserStore>,
    readonly throttle: LoginThrottle = new LoginThrottle(),
  ) {
    this.users = Live.of(users);
  }

  /**
   * Resolves true for the right password, false otherwise (the failure stays
   * counted for `username` from `address`). Throws TOOMANYREQUESTS when throttled.
   */
  async check(credentials: BasicCredentials, address: string): Promise<boolean> {
    const attempt = this.throttle.begin(credentials.username, address);
    if ('wait' in attempt) {
      throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; retry in ${attempt.wait} s`, { headers: { 'Retry-After': String(attempt.wait) } });
    }
    const users = this.users.current;
    if (this.verifiedBy !== users) {
      this.verified.clear();
      this.verifiedBy = users;
    }
    const id = createHmac('sha256', this.cacheKey).update(credentials.username).update('\0').update(credentials.password).digest('base64');
    const until = this.verified.get(id);
    if (until !== undefined && until > Date.now() && users.has(credentials.username)) {
      attempt.succeeded();
      return true;
    }
    if (!(await users.verify(credentials.username, credentials.password))) return false;
    attempt.succeeded();
    // Verified against users replaced meanwhile: not remembered for the new ones.
    if (this.verifiedBy !== users) return true;
    this.verified.delete(id);
    this.verified.set(id, Date.now() + CACHE_TTL_MS);
    while (this.verified.size > CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    return true;
  }

  /** See UserStore.passwordVersion; undefined for an unknown user. */
  passwordVersion(username: string): string | undefined {
    return this.users.current.passwordVersion(username);
  }
}

/**
 * Registry tokens (Docker token spec): short-lived ES256 JWTs whose `access`
 * claim lists what the bearer may do, e.g.
 * `[{"type":"repository","name":"a/b","actions":["pull"]}]`.
 *
 * TokenIssuer signs access tokens and refresh tokens (the latter carry
 * `use: "refresh"`, no access, a `pwv` binding them to the user's current
 * password, and are only accepted by the token endpoint).
 * TokenVerifier checks a token against a public key or a JWKS: signature
 * (asymmetric algorithms only; `none` and HMAC are refused), `exp` required
 * (30 s leeway), `iss` and `aud` (= the service) exact.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { algorithmsFor } from './keys.js';
import { parseAccessClaim, type ResourceScope } from './scope.js';

export const CLOCK_TOLERANCE_SECONDS = 30;

export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  /** RFC 3339. */
  readonly issuedAt: string;
}

export interface TokenIssuerOptions {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly issuer: string;
  readonly service: string;
  /** Access token lifetime; default 300 s. */
  readonly expiresInSeconds?: number;
  /** Refresh token lifetime; default 30 days. */
  readonly refreshExpiresInSeconds?: number;
}

export class TokenIssuer {
  readonly expiresInSeconds: number;
  private readonly refreshExpiresInSeconds: number;
  private kid: Promise<string>;

  constructor(private readonly options: TokenIssuerOptions) {
    this.expiresInSeconds = options.expiresInSeconds ?? 300;
    this.refreshExpiresInSeconds = options.refreshExpiresInSeconds ?? 30 * 24 * 3600;
    this.kid = exportJWK(options.publicKey).then((jwk) => calculateJwkThumbprint(jwk));
    this.kid.catch(() => undefined);
  }

  /** A verifier for the tokens this issuer signs. */
  verifier(): TokenVerifier {
    return new TokenVerifier({ key: this.options.publicKey, issuer: this.options.issuer, service: this.options.service });
  }

  private async sign(claims: Record<string, unknown>, subject: string | undefined, lifetime: number, now: number): Promise<IssuedToken> {
    const iat = Math.floor(now / 1000);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: await this.kid })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.service)
      .setIssuedAt(iat)
      .setNotBefore(iat - 1)
      .setExpirationTime(iat + lifetime)
      .setJti(randomUUID());
    if (subject !== undefined) jwt.setSubject(subject);
    return { token: await jwt.sign(this.options.privateKey), expiresIn: lifetime, issuedAt: new Date(iat * 1000).toISOString() };
  }

  /** An access token for `subject` (undefined: anonymous) granting exactly `access`. */
  issueAccess(subject: string | undefined, access: readonly ResourceScope[], now = Date.now()): Promise<IssuedToken> {
    return this.sign({ access: access.map((a) => ({ type: a.type, name: a.name, actions: [...a.actions] })) }, subject, this.expiresInSeconds, now);
  }

  /** A refresh token for `subject`, bound to `passwordVersion` (it stops working when that changes). */
  async issueRefresh(subject: string, passwordVersion: string, now = Date.now()): Promise<string> {
    return (await this.sign({ use: 'refresh', pwv: passwordVersion }, subject, this.refreshExpiresInSeconds, now)).token;
  }

  /** The subject and password version of a valid refresh token of this issuer; throws otherwise. */
  async verifyRefresh(token: string): Promise<{ subject: string; passwordVersion: string }> {
    const { payload } = await jwtVerify(token, this.options.publicKey, {
      algorithms: ['ES256'],
      issuer: this.options.issuer,
      audience: this.options.service,
      requiredClaims: ['exp', 'sub'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    if (payload.use !== 'refresh' || typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.pwv !== 'string') throw new Error('not a refresh token');
    return { subject: payload.sub, passwordVersion: payload.pwv };
  }
}

export interface TokenVerifierOptions {
  /** A public key, or a key resolver such as jose's createRemoteJWKSet(url). */
  readonly key: KeyObject | JWTVerifyGetKey;
  readonly issuer: string;
  readonly service: string;
  /** Accepted algorithms; default: those of `key` (a KeyObject), else every asymmetric one. */
  readonly algorithms?: readonly string[];
}

export interface VerifiedToken {
  /** undefined for an anonymous token. */
  readonly subject: string | undefined;
  readonly access: readonly ResourceScope[];
}

const ASYMMETRIC = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

export class TokenVerifier {
  private readonly algorithms: string[];

  constructor(private readonly options: TokenVerifierOptions) {
    this.algorithms = options.algorithms
      ? [...options.algorithms].filter((a) => ASYMMETRIC.includes(a))
      : typeof options.key === 'function'
        ? ASYMMETRIC
        : algorithmsFor(options.key);
  }

  /** Verifies an access token; throws (a jose error or Error) when it is not acceptable. */
  async verify(token: string): Promise<VerifiedToken> {
    const options = {
      algorithms: this.algorithms,
      issuer: this.options.issuer,
      audience: this.options.service,
      requiredClaims: ['exp', 'iss', 'aud'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    };
    const key = this.options.key;
    const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
    if (payload.use !== undefined) throw new Error('a refresh token is not an access token');
    const subject = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    return { subject, access: parseAccessClaim(payload.access) };
  }
}

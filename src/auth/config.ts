/**
 * The validated access-control settings the auth module is built from
 * (loadAuth). The configuration file's `auth` section is parsed and
 * validated by the server's configuration module (server/config-auth.ts,
 * parseAuthConfig); relative paths are already absolute here.
 */
import type { PolicyOptions } from './policy.js';

export interface AuthConfig {
  readonly mode: 'none' | 'basic' | 'token';
  /** Absolute path of the htpasswd file (basic mode, built-in token issuer). */
  readonly htpasswd?: string;
  readonly realm?: string;
  readonly token?: {
    readonly service: string;
    readonly issuer: string;
    readonly realm?: string;
    readonly keyFile?: string;
    readonly expiresIn?: number;
    readonly refreshExpiresIn?: number;
    readonly external?: { readonly publicKeyFile?: string; readonly jwksUrl?: string };
  };
  readonly throttle?: { readonly maxFailures?: number; readonly maxAddressFailures?: number; readonly windowSeconds?: number };
  readonly policy: PolicyOptions;
}

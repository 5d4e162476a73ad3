/**
 * The `ui` section of the server's configuration file (docs/ui.md),
 * validated strictly:
 *
 *   ui:
 *     enabled: true                         # /ui and its API /v2/_ferro/ui; false turns both off (default true)
 *     publicHost: registry.example.com      # the host in the UI's pull commands (default: the one the browser used)
 *     corsOrigins: [https://ui.example.com] # origins whose UIs may call the registry (CORS; `*`: any); default none
 */
import { isValidRegistryHost } from '../oci/names.js';
import type { CorsOptions } from './cors.js';
import type { UiOptions } from './ui.js';

export class UiConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UiConfigError';
  }
}

/** The server's `ui` option (false: off, or the UI's settings) and its `cors` option. */
export interface UiConfig {
  readonly ui: false | UiOptions;
  readonly cors?: CorsOptions;
}

const ORIGIN_RE = /^https?:\/\/[^/\s?#]+$/;

export function parseUiConfig(value: unknown): UiConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UiConfigError('ui: must be a mapping');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!['enabled', 'publicHost', 'corsOrigins'].includes(key)) throw new UiConfigError(`ui.${key}: unknown setting; expected one of enabled, publicHost, corsOrigins`);
  if (v.enabled !== undefined && typeof v.enabled !== 'boolean') throw new UiConfigError('ui.enabled: must be true or false');
  if (v.publicHost !== undefined && (typeof v.publicHost !== 'string' || !isValidRegistryHost(v.publicHost))) {
    throw new UiConfigError('ui.publicHost: must be a host name or address, with an optional :port (e.g. registry.example.com)');
  }
  const origins = v.corsOrigins;
  if (origins !== undefined && !(Array.isArray(origins) && origins.every((o) => typeof o === 'string' && (o === '*' || ORIGIN_RE.test(o))))) {
    throw new UiConfigError('ui.corsOrigins: must be a list of origins (scheme://host[:port], no path) or "*"');
  }
  const cors = origins && origins.length > 0 ? { cors: { origins: origins as string[] } } : {};
  if (v.enabled === false) return { ui: false, ...cors };
  return { ui: v.publicHost !== undefined ? { publicHost: v.publicHost as string } : {}, ...cors };
}

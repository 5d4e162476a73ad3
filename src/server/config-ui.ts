/**
 * The `ui` section of the configuration file (docs/ui.md). Its structure is
 * checked by the schema (config-schema.ts); this adds the host check the
 * schema cannot make and builds the server's `ui` and `cors` options.
 *
 *   ui:
 *     enabled: true                         # /ui and its API /v2/_ferro/ui; false turns both off (default true)
 *     publicHost: registry.example.com      # the host in the UI's pull commands (default: the one the browser used)
 *     corsOrigins: [https://ui.example.com] # origins whose UIs may call the registry (CORS; `*`: any); default none
 */
import { isValidRegistryHost } from '../oci/names.js';
import type { Sources } from './config-schema.js';
import type { ConfigTree } from './config-tree.js';
import type { CorsOptions } from './cors.js';
import type { UiOptions } from './ui.js';

/** The server's `ui` option (false: off, or the UI's settings) and its `cors` option. */
export interface UiConfig {
  readonly ui: false | UiOptions;
  readonly cors?: CorsOptions;
}

export function parseUi(ui: ConfigTree['ui'], sources: Sources): UiConfig {
  if (ui.publicHost !== undefined && !isValidRegistryHost(ui.publicHost)) {
    throw sources.error('ui.publicHost', 'must be a host name or address, with an optional :port (e.g. registry.example.com)');
  }
  const cors = ui.corsOrigins !== undefined && ui.corsOrigins.length > 0 ? { cors: { origins: [...ui.corsOrigins] } } : {};
  if (!ui.enabled) return { ui: false, ...cors };
  return { ui: ui.publicHost !== undefined ? { publicHost: ui.publicHost } : {}, ...cors };
}

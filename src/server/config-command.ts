/**
 * `ferro-oci-server config check FILE`: prints the effective configuration
 * (file + environment + options + defaults) as YAML with its secrets
 * redacted, and the warnings the server would log at start. The htpasswd
 * file an auth section names is read, as the server reads it at start.
 */
import YAML from 'yaml';
import { UserStore } from '../auth/htpasswd.js';
import { authWarnings } from './config-auth.js';
import { redactUrl } from './config-storage.js';
import type { ConfigTree } from './config-tree.js';
import type { ServerConfig } from './config.js';

interface Output {
  write(text: string): unknown;
}

/** The warnings to log once at start: the configuration's own, and rules or admins naming unknown users or groups. */
export function configWarnings(config: ServerConfig, users: { has(user: string): boolean } | undefined): string[] {
  return [...config.warnings, ...(config.auth && config.auth.mode !== 'none' ? authWarnings(config.auth, users) : [])];
}

/** `tree` with its secrets replaced: the S3 secret key, and the password and query of the PostgreSQL and tracing URLs. */
export function redactTree(tree: ConfigTree): ConfigTree {
  const copy = structuredClone(tree) as ConfigTree & { storage: { metadataUrl?: string; s3?: { secretAccessKey?: string } }; tracing?: { endpoint?: string } };
  if (copy.storage.metadataUrl !== undefined) copy.storage.metadataUrl = redactUrl(copy.storage.metadataUrl);
  if (copy.tracing?.endpoint !== undefined) copy.tracing.endpoint = redactUrl(copy.tracing.endpoint);
  if (copy.storage.s3?.secretAccessKey !== undefined) copy.storage.s3.secretAccessKey = '***';
  return copy;
}

/** Exit codes: 0 valid (warnings included), 2 when the htpasswd file the auth section names cannot be read. */
export async function runConfigCheck(command: { file: string; config: ServerConfig; tree: ConfigTree }, out: Output, err: Output): Promise<number> {
  const { config } = command;
  let users: UserStore | undefined;
  if (config.auth?.htpasswd !== undefined && config.auth.mode !== 'none') {
    try {
      users = await UserStore.load(config.auth.htpasswd);
    } catch (e) {
      err.write(`ferro-oci-server: ${command.file}: ${e instanceof Error ? e.message : String(e)}\n`);
      return 2;
    }
  }
  out.write(`# ${command.file}: valid. Effective configuration (file + environment + options + defaults), secrets redacted:\n`);
  out.write(YAML.stringify(redactTree(command.tree)));
  for (const warning of configWarnings(config, users)) err.write(`warning: ${warning}\n`);
  return 0;
}

/**
 * ferro-oci-server/postgres: the PostgreSQL MetadataStore, a separate entry
 * point so that the core library (src/index.ts) never loads `pg`.
 */
export {
  PostgresMetadataStore,
  openPostgresMetadataStore,
  type PostgresMetadataStoreOptions,
} from './storage/meta/postgres/index.js';
export { SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION } from './storage/meta/postgres/schema.js';

/**
 * The shared storage of a set of replicas: a bucket on a test RGW and the
 * server environment that points a replica at it and at a test PostgreSQL.
 * Used by the multi-replica test and the replica benchmark.
 */
import { openS3BlobStore } from '../src/s3.js';
import type { Rgw } from './ceph.js';
import type { TestPostgres } from './postgres.js';

/** Creates `bucket` on the RGW (idempotent). */
export async function createBucket(rgw: Rgw, bucket: string): Promise<void> {
  const store = await openS3BlobStore({
    bucket,
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: rgw.forcePathStyle,
    credentials: rgw.credentials,
    createBucket: true,
  });
  await store.close();
}

/** The environment of one replica: PostgreSQL metadata (schema `registry`) and S3 blobs under `oci/`. */
export function replicaEnv(pg: TestPostgres, rgw: Rgw, bucket: string, shutdownTimeoutSeconds: number): Record<string, string> {
  return {
    FERRO_OCI_METADATA_URL: pg.connectionString,
    FERRO_OCI_METADATA_SCHEMA: 'registry',
    FERRO_OCI_S3_BUCKET: bucket,
    FERRO_OCI_S3_ENDPOINT: rgw.endpoint,
    FERRO_OCI_S3_REGION: rgw.region,
    FERRO_OCI_S3_PREFIX: 'oci/',
    FERRO_OCI_S3_FORCE_PATH_STYLE: String(rgw.forcePathStyle),
    FERRO_OCI_S3_ACCESS_KEY: rgw.credentials.accessKeyId,
    FERRO_OCI_S3_SECRET_KEY: rgw.credentials.secretAccessKey,
    FERRO_OCI_SHUTDOWN_TIMEOUT: String(shutdownTimeoutSeconds),
  };
}

/**
 * ferro-oci-server/s3: the BlobStore on S3-compatible object storage. A
 * separate entry point, so the core library does not load the AWS SDK.
 */
export { S3BlobStore, S3BucketMissingError, openS3BlobStore, type S3BlobStoreConfig, type S3BlobStoreStats, type RedirectOptions } from './storage/blob/s3.js';

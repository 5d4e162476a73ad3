/**
 * Embedding ferro-oci-server in your own Fastify app, with an auth hook in
 * front of the registry. Type-checked by `npm run build`; run it with
 * `node dist/examples/embed.js` after a build.
 */
import Fastify from 'fastify';
import { createRegistry, healthPlugin, metricsPlugin, openFilesystemBlobStore, openSqliteMetadataStore } from '../src/index.js';

const blobStore = await openFilesystemBlobStore('./data/blobs');
const metadataStore = openSqliteMetadataStore('./data/metadata.db');

const app = Fastify({ logger: true });
await app.register(metricsPlugin, { metadataStore }); // register first: its hooks see every later route
await app.register(healthPlugin, { checks: { blobs: (s) => blobStore.checkHealth(s), metadata: (s) => metadataStore.checkHealth(s) } });

// Auth goes in front of the registry: a hook in an encapsulating plugin.
await app.register(async (scope) => {
  scope.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer let-me-in') {
      return reply.code(401).header('WWW-Authenticate', 'Bearer realm="example"').send({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
  });
  await scope.register(createRegistry({ blobStore, metadataStore, limits: { maxManifestSize: 8 * 1024 * 1024 } }));
});

app.addHook('onClose', async () => {
  await blobStore.close();
  await metadataStore.close();
});
await app.listen({ host: '127.0.0.1', port: 5000 });

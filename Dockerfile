# The ferro-oci-server container image: `npm run image` (docker/build-image.sh) builds it
# with no network, from an npm cache it fills first; a plain `docker build .` downloads the
# dependencies instead. The bases are build arguments: the official Node.js images by
# default, or the local equivalents docker/make-base.sh makes from Debian and npm packages.
ARG BASE=node:24-bookworm-slim
ARG BUILD_BASE=node:24-bookworm

# Build: production dependencies (better-sqlite3 compiled from source against the base's
# Node.js headers: .prebuild-installrc forbids the prebuilt download), the compiled src/ and
# the web UI's assets (esbuild, a dev dependency, bundles src/ui/web into dist/src/ui).
FROM ${BUILD_BASE} AS build
WORKDIR /app
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# .npm-cache* is the cache `npm run image` fills (its _cacache/ lands in /app); absent, npm downloads.
COPY package.json package-lock.json .prebuild-installrc tsconfig.json tsconfig.build.json tsconfig.ui.json LICENSE .npm-cache* ./
RUN npm ci --ignore-scripts --prefer-offline --cache /app \
 && npm rebuild better-sqlite3 --prefer-offline --cache /app
COPY src ./src
COPY schema ./schema
# /out is laid out as the runtime image's root; /out-data/ferro-oci is the data directory.
RUN node_modules/.bin/tsc -p tsconfig.build.json \
 && npm run build:ui \
 && npm prune --omit=dev --prefer-offline --cache /app \
 && mkdir -p /out/app/dist /out/usr/local/bin /out-data/ferro-oci \
 && cp -a package.json .prebuild-installrc LICENSE schema node_modules /out/app/ \
 && cp -a dist/src /out/app/dist/ \
 && chmod 0755 /out/app/dist/src/server/main.js \
 && ln -s /app/dist/src/server/main.js /out/usr/local/bin/ferro-oci-server \
 && chmod 0750 /out-data/ferro-oci

# Runtime: Node.js, the production dependencies and dist/src; no compiler, no curl.
FROM ${BASE}
ARG VERSION=dev
ARG SOURCE=
ARG REVISION=
LABEL org.opencontainers.image.title="ferro-oci-server" \
      org.opencontainers.image.description="An OCI Distribution v1.1 / Docker Registry v2 container registry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}"
ENV NODE_ENV=production \
    FERRO_OCI_LISTEN=0.0.0.0:8080 \
    FERRO_OCI_STORAGE_DIR=/var/lib/ferro-oci
COPY --from=build /out/ /
COPY --from=build --chown=65532:65532 /out-data/ /var/lib/
# Non-root; nothing is written outside the data volume (and /tmp), so --read-only works.
USER 65532:65532
VOLUME /var/lib/ferro-oci
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["ferro-oci-server", "healthcheck"]
# SIGTERM (docker stop) starts the graceful shutdown; give it --stop-timeout beyond
# FERRO_OCI_SHUTDOWN_TIMEOUT (30 s) when long uploads must finish.
ENTRYPOINT ["ferro-oci-server"]

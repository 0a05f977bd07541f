# Every workspace's manifest and the lock file, so that npm ci finds them in step; the
# stages below install from them before copying any source.
FROM node:24-slim AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/auth/package.json packages/auth/
COPY packages/platform/package.json packages/platform/
COPY prisma/package.json prisma/
COPY subgraphs/users/package.json subgraphs/users/
COPY subgraphs/events/package.json subgraphs/events/
COPY subgraphs/tickets/package.json subgraphs/tickets/
COPY gateway/package.json gateway/
COPY clients/web/package.json clients/web/
COPY bench/package.json bench/

# The web app (clients/web), built for the edge. Its typed documents are generated from
# clients/operations against the committed supergraph. Only its dependencies are installed.
FROM node:24-slim AS web
WORKDIR /app
COPY --from=manifests /app ./
RUN npm ci --ignore-scripts --workspace @ticketing/web --include-workspace-root=false
COPY clients/web clients/web
COPY clients/operations clients/operations
COPY gateway/supergraph.graphql gateway/
RUN npm run build --workspace @ticketing/web

# The edge (compose's nginx service): NGINX with the built app, served at /. NGINX's own
# unprivileged image: the same NGINX and entrypoint, run as user 101, writing only its pid
# file and temp folders (/tmp) and the rendered template (/etc/nginx/conf.d), so that it
# also runs on a read-only root filesystem. Its stock server listens on 8080 too, and would
# answer in the template's place: removed.
FROM nginxinc/nginx-unprivileged:1.27-alpine AS edge
RUN rm /etc/nginx/conf.d/default.conf
COPY --from=web /app/clients/web/dist /usr/share/nginx/html

# One image for every Node service of the topology; compose.yaml picks the command. The
# last stage, so that a plain build of this file is this image.
FROM node:24-slim

WORKDIR /app
ENV NODE_ENV=production
# @apollo/gateway reports anonymous usage data to Apollo's servers (and probes cloud metadata
# endpoints) unless this is set when the process starts. This project reports to no hosted
# service; set it to false in a container's environment to allow it.
ENV APOLLO_TELEMETRY_DISABLED=true

# Dependencies first, so that a source change does not reinstall them. Install scripts
# stay off: nothing here needs one, and Prisma's would try to download engine binaries.
COPY --from=manifests /app ./
RUN npm ci --omit=dev --ignore-scripts

COPY . .
RUN npm run db:generate

# Where a service keeps files of its own (the users service's development signing key).
RUN mkdir -p /data && chown node:node /data
USER node

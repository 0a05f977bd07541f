# One image for every Node service of the topology; compose.yaml picks the command.
FROM node:24-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so that a source change does not reinstall them. Install scripts
# stay off: nothing here needs one, and Prisma's would try to download engine binaries.
COPY package.json package-lock.json ./
COPY packages/auth/package.json packages/auth/
COPY packages/platform/package.json packages/platform/
COPY prisma/package.json prisma/
COPY subgraphs/users/package.json subgraphs/users/
COPY subgraphs/events/package.json subgraphs/events/
COPY subgraphs/tickets/package.json subgraphs/tickets/
COPY gateway/package.json gateway/
RUN npm ci --omit=dev --ignore-scripts

COPY . .
RUN npm run db:generate

# Where a service keeps files of its own (the users service's development signing key).
RUN mkdir -p /data && chown node:node /data
USER node

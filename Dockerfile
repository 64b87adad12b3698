# jit-access production image.
#   docker build -t jit-access .
#   docker run --env-file .env -v "$PWD/policy.yml:/app/policy.yml:ro" -p 3000:3000 jit-access
# The policy file is not baked in: mount it at /app/policy.yml (the default ./policy.yml,
# relative to WORKDIR /app) or point JIT_POLICY_FILE elsewhere. Secrets come from the environment.

# ---- build: full dependency tree, compile TypeScript to dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and compiled code only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
# ssh-keygen (openssh-client) signs the ssh provider's certificates and updates its revocation list.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --omit=optional drops the test-only embedded MongoDB binary (and pg-cloudflare).
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# Writable data directory for the embedded MongoDB fallback (only used when MONGODB_URI is unset).
RUN mkdir -p /app/.data && chown node:node /app/.data
# The official node image ships an unprivileged "node" user (uid 1000).
USER node
EXPOSE 3000
# No curl/wget in slim images: node itself probes GET /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Exec form, no npm and no shell in between: SIGTERM reaches node, which drains and exits 0.
CMD ["node", "dist/src/main.js"]

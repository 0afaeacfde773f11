# The sidecar bundle image: Node, bot-bottle's built bundle (dist/sidecars.js), git (git-gate) and
# openssh-client (git-gate's SSH leg upstream). Built by src/backends/docker/images.ts from a staged
# context: `node` is the host's own Node binary (the one running bot-bottle, >= 20.19; Debian's
# nodejs is 18) and `app/` is dist/sidecars.js with its program (sidecars.cjs) and V8 code cache.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# apt runs only for what the base lacks: on the offline base (scripts/build-offline-base-image.sh),
# which has all of it, the build needs no network.
RUN set -eu; missing=""; \
    for p in ca-certificates git openssh-client; do \
      dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing && rm -rf /var/lib/apt/lists/*; \
    fi
COPY node /usr/local/bin/node
# Fails the build here, with the reason, if the host's Node does not run on this base (e.g. a newer glibc).
RUN node -e 'const [major, minor] = process.versions.node.split(".").map(Number); if (major < 20 || (major === 20 && minor < 19)) { console.error(`node ${process.version} is too old (>= 20.19)`); process.exit(1); }'
COPY app/ /opt/bot-bottle/

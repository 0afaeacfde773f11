# The agent image for the `shell` provider: Debian with bash, curl, git and CA roots, user `agent`
# (uid 1000, home /home/agent). The claude and codex images start with the same lines, so they
# share these layers.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# apt runs only for what the base lacks: on the offline base (scripts/build-offline-base-image.sh),
# which has all of it, the build needs no network.
RUN set -eu; missing=""; \
    for p in bash ca-certificates curl git; do \
      dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing && rm -rf /var/lib/apt/lists/*; \
    fi
RUN groupadd --gid 1000 agent && useradd --uid 1000 --gid agent --home-dir /home/agent --create-home --shell /bin/bash agent
ENV HOME=/home/agent
USER 1000:1000
WORKDIR /home/agent
CMD ["bash", "-l"]

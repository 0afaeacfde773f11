# The agent image for the `claude` provider: the shell image plus Claude Code. `program/claude` is
# the native Claude Code binary staged by src/backends/docker/images.ts from a host install of the
# pinned version (CLAUDE_CODE_VERSION, see src/backends/docker/agent-programs.ts).
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
ARG CLAUDE_CODE_VERSION
COPY program/claude /opt/claude-code/claude
# The binary must run on this base and be the pinned version.
RUN test -n "$CLAUDE_CODE_VERSION" \
    && ln -s /opt/claude-code/claude /usr/local/bin/claude \
    && test "$(claude --version)" = "$CLAUDE_CODE_VERSION (Claude Code)"
LABEL bot-bottle.program="@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"
# The image is the version: Claude Code must not replace itself inside a bottle.
ENV DISABLE_AUTOUPDATER=1
ENV HOME=/home/agent
USER 1000:1000
WORKDIR /home/agent
CMD ["claude"]

# The agent image for the `codex` provider: the shell image plus Codex. `program/` is the native
# Codex distribution (bin/codex, its bundled ripgrep in codex-path/, codex-resources/) staged by
# src/backends/docker/images.ts from a host install of the pinned version (CODEX_VERSION, see
# src/backends/docker/agent-programs.ts); no Node is needed to run it.
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
ARG CODEX_VERSION
COPY program/ /opt/codex/
# The binary must run on this base and be the pinned version.
# Its tools are linked into /usr/local/bin too: a login shell (`bash -lc`, which Codex may run commands
# through) resets PATH from /etc/profile and would lose /opt/codex/codex-path.
RUN test -n "$CODEX_VERSION" \
    && ln -s /opt/codex/bin/codex /usr/local/bin/codex \
    && for tool in /opt/codex/codex-path/*; do ln -s "$tool" /usr/local/bin/; done \
    && test "$(codex --version)" = "codex-cli $CODEX_VERSION"
LABEL bot-bottle.program="@openai/codex@${CODEX_VERSION}"
ENV PATH=/opt/codex/codex-path:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV HOME=/home/agent
USER 1000:1000
WORKDIR /home/agent
CMD ["codex"]

#!/usr/bin/env bash
# System prerequisites for bot-bottle and its test suite on Debian/Ubuntu.
#   bwrap backend:   bubblewrap, socat (in-sandbox forwarders), util-linux (setpriv)
#   docker backend:  docker.io, iptables (the host rule that keeps a bottle's internal network off the host),
#                    runsc (gVisor, registered by scripts/start-docker-engine.sh), debootstrap (the offline
#                    base image: scripts/build-offline-base-image.sh)
#   sidecars:        git, openssh-client, ca-certificates
#   tests/benches:   curl, openssh-server (a real sshd upstream for git-gate), mitmproxy (egress baseline), tmux
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  bubblewrap socat util-linux \
  docker.io iptables runsc debootstrap \
  git openssh-client ca-certificates \
  curl openssl python3 openssh-server mitmproxy tmux procps

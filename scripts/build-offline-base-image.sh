#!/usr/bin/env bash
# Build the docker backend's base image without any container registry: debootstrap a minimal
# Debian bookworm from this machine's own apt mirror, then `docker import` it. For machines (CI,
# air-gapped hosts) that reach a Debian mirror but not Docker Hub; everyone else uses the default
# base, the public debian:bookworm-slim. Use the result with
#   BOT_BOTTLE_DOCKER_BASE_IMAGE=bot-bottle/base:bookworm
# The packages every bot-bottle image needs are included here, so building the images on top of
# this base needs no network at all (their Dockerfiles install only what the base lacks).
#
#   --force              rebuild even if the image exists
#   DEBIAN_MIRROR=URL    the mirror to use (default: the one apt is configured with)
#   BASE_IMAGE_TAG=TAG   the tag to create (default bot-bottle/base:bookworm)
#   BASE_IMAGE_CACHE=F   load the image from F (a `docker save` archive) when F is less than a week old,
#                        and save it there after a build (CI keeps debootstrap's ~30-150 s out of most runs)
set -euo pipefail
tag="${BASE_IMAGE_TAG:-bot-bottle/base:bookworm}"
suite=bookworm
packages=ca-certificates,curl,git,openssh-client

cache="${BASE_IMAGE_CACHE:-}"
save_cache() {
  [ -n "$cache" ] || return 0
  mkdir -p "$(dirname "$cache")"
  docker save "$tag" | gzip -1 >"$cache.tmp" && mv "$cache.tmp" "$cache"
  echo "build-offline-base-image.sh: saved $tag to $cache" >&2
}
if [ "${1:-}" != "--force" ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "build-offline-base-image.sh: $tag exists; nothing to do (--force rebuilds it)" >&2
  if [ -n "$cache" ] && [ ! -f "$cache" ]; then save_cache; fi
  exit 0
fi
if [ "${1:-}" != "--force" ] && [ -n "$cache" ] && [ -n "$(find "$cache" -maxdepth 0 -mtime -7 2>/dev/null)" ]; then
  if gzip -dc "$cache" | docker load >/dev/null && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "build-offline-base-image.sh: loaded $tag from $cache" >&2
    exit 0
  fi
  echo "build-offline-base-image.sh: $cache did not hold $tag; building it" >&2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "build-offline-base-image.sh: debootstrap needs root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "build-offline-base-image.sh: debootstrap is not installed (scripts/install-system-deps.sh)" >&2; exit 1; }

# The first apt source that serves the plain suite (not -security or -updates): deb822 *.sources
# files first (Debian 12's default), then one-line sources.list entries.
configured_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() { if (deb && has_suite && uri != "") { print uri; found = 1; exit } deb = 0; has_suite = 0; uri = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has_suite = 1 }
      END { if (!found) flush() }
    ' "$f"
  done
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
    | awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) print $i }'
}
mirror="${DEBIAN_MIRROR:-$(configured_mirror | head -n 1 || true)}"
if [ -z "$mirror" ]; then
  echo "build-offline-base-image.sh: no apt source for $suite in /etc/apt/sources.list(.d); set DEBIAN_MIRROR=<url>" >&2
  exit 1
fi

work="$(mktemp -d /tmp/bot-bottle-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "build-offline-base-image.sh: debootstrap $suite from $mirror" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
# What a registry image leaves out too: downloaded packages and index files (apt-get update refetches).
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/log/*.log
tar -C "$work/rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "debootstrap --variant=minbase $suite from $mirror" - "$tag" >/dev/null
echo "build-offline-base-image.sh: built $tag" >&2
save_cache

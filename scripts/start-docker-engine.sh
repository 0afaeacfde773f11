#!/usr/bin/env bash
# Start a Docker engine where there is no init system (CI, containers, this project's test machines):
# register gVisor's runsc with the engine when it is installed, start dockerd in the background with
# its log in a file, and wait (bounded) until `docker info` answers. An engine that already answers is
# left alone. Prints the pid of a dockerd it started, so whoever started it can stop exactly that one.
#   DOCKERD_LOG   where dockerd logs (default /tmp/dockerd.log)
set -euo pipefail
log="${DOCKERD_LOG:-/tmp/dockerd.log}"
config=/etc/docker/daemon.json

if docker info >/dev/null 2>&1; then
  echo "docker engine already running: $(docker info --format '{{.ServerVersion}} runtimes={{range $k, $v := .Runtimes}}{{$k}} {{end}}')" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "start-docker-engine.sh: starting dockerd needs root" >&2
  exit 1
fi

# Register runsc in daemon.json before the daemon starts, keeping every other key of an existing file.
# runsc releases before 2024-08-01 (Debian 12 ships 2022-12-19) take any network namespace in which
# net.core.rmem_default exists for the host's, and newer kernels namespace that setting: their own network
# stack then refuses every container ("cannot run with network enabled in root network namespace").
# On such a kernel they run with --network=host, i.e. on the kernel's network stack *inside the
# container's own namespace* (not the host's): the bottle's network confinement (namespace, internal
# network, host firewall rule) is the same; gVisor's user-space TCP/IP stack is what is lost.
runsc_path="$(command -v runsc || true)"
if [ -n "$runsc_path" ]; then
  runsc_args='[]'
  runsc_date="$("$runsc_path" --version 2>/dev/null | head -n 1 | sed -n 's/.*[^0-9]\(20[0-9]\{6\}\).*/\1/p' || true)"
  if [ -n "$runsc_date" ] && [ "$runsc_date" -lt 20240801 ] && unshare --net test -e /proc/sys/net/core/rmem_default 2>/dev/null; then
    runsc_args='["--network=host"]'
    echo "start-docker-engine.sh: runsc $runsc_date cannot use its own network stack on this kernel; registering it with --network=host" >&2
  fi
  mkdir -p "$(dirname "$config")"
  RUNSC_PATH="$runsc_path" RUNSC_ARGS="$runsc_args" CONFIG="$config" node -e '
    const fs = require("node:fs");
    const file = process.env.CONFIG;
    let config = {};
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, "utf8");
      config = text.trim() === "" ? {} : JSON.parse(text);
    }
    if (typeof config !== "object" || config === null || Array.isArray(config)) throw new Error(`${file}: not a JSON object`);
    const runtimeArgs = JSON.parse(process.env.RUNSC_ARGS);
    config.runtimes = { ...(config.runtimes ?? {}), runsc: { path: process.env.RUNSC_PATH, ...(runtimeArgs.length > 0 ? { runtimeArgs } : {}) } };
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(config, null, 2)}\n`);
    fs.renameSync(`${file}.tmp`, file);
  '
fi

dockerd >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  if docker info >/dev/null 2>&1; then
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start-docker-engine.sh: dockerd exited during start-up; its log ($log):" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "start-docker-engine.sh: dockerd (pid $pid) did not answer within 30 s; its log ($log):" >&2
tail -n 30 "$log" >&2
exit 1

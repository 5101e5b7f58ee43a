#!/usr/bin/env bash
# Installs what Switchboard needs, builds it, and runs `switchboard up` on its
# embedded defaults (embedded Kafka broker, private PostgreSQL under
# ./.switchboard). Arguments go to `switchboard up`; Ctrl-C stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSB_TESTS=OFF >/dev/null
cmake --build "$root/build/release" -j "$(nproc)" >"$root/build/release/build.log" 2>&1 ||
  { cat "$root/build/release/build.log"; echo "build failed" >&2; exit 1; }
cd "$root"
exec "$root/build/release/switchboard" up "$@"

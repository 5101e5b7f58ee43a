#!/usr/bin/env bash
# Installs the pinned npm packages of tests/npm (package-lock.json) into
# DIR/node_modules, once per lock (a stamp holds its SHA-256); tests running
# side by side wait for each other (flock). Prints DIR.
#   install.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
mkdir -p "$dir"
command -v npm >/dev/null || { echo "npm not found: apt-get install npm" >&2; exit 1; }
exec 9>"$dir/.lock"
flock 9
sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$sum" ] || [ ! -d "$dir/node_modules" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2 ||
    { echo "npm ci failed in $dir" >&2; exit 1; }
  echo "$sum" >"$dir/.stamp"
fi
cp "$here"/*.mjs "$dir/"
echo "$dir"

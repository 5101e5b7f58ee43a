#!/usr/bin/env bash
# Installs the Debian 12 packages Switchboard builds, runs and tests with
# (through sudo when not root), and, as root, the unprivileged user the
# private PostgreSQL runs as. Installs only what is missing.
# kcat and psql come along: the README uses them to look at a running `up`,
# and the tests drive them; python3-avro is an independent Avro reader the
# tests check our records against, python3-websockets an independent
# WebSocket client; tzdata the IANA time zones engine/sb_tz.c reads;
# libcurl the dispatcher's transfers (SMTP, HTTPS), python3-aiosmtpd the
# SMTP server its test sends to; nodejs and npm run the interop
# tests' pinned JavaScript clients (tests/npm). With --tests (tests/run.sh)
# also chromium: the dashboard's browser tests drive Debian's build headless
# (playwright-core, which downloads no browser); `up` does not need it.
set -euo pipefail

pkgs=(build-essential cmake pkg-config librdkafka-dev libpq-dev libavro-dev
      libuv1-dev libssl-dev libcjson-dev libhttp-parser-dev libwslay-dev
      postgresql postgresql-client kcat curl
      python3-avro python3-websockets tzdata
      libcurl4-openssl-dev python3-aiosmtpd)
[ "${1:-}" = "--tests" ] && pkgs+=(chromium)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$p")
done
# node and npm: Debian's, unless a node with its own npm is there already
# (NodeSource's nodejs carries npm and conflicts with Debian's npm package)
command -v npm >/dev/null && command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      echo "deps.sh: not root and no sudo: as root, apt-get install ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  echo "deps.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL refuses to run as root: give the private server its own user.
if [ "$(id -u)" -eq 0 ] && ! id switchboard >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin switchboard
  echo "deps.sh: created system user 'switchboard' for the private PostgreSQL"
fi

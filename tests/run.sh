#!/usr/bin/env bash
# Installs what the tests need, then builds and runs the whole suite twice:
# a plain build, and one under AddressSanitizer + UndefinedBehaviorSanitizer.
# Arguments go to ctest (e.g. -L unit, -R kafka).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh" --tests
# the layers: fails before building when a file includes upward or a
# wrapped library outside the engine
bash "$root/scripts/check_layers.sh" "$root"
# the tests mostly wait (on the broker, the database, timers): two per core
jobs=$((2 * $(nproc)))
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for variant in release asan; do
  dir=$root/build/$variant
  if [ "$variant" = asan ]; then
    opts=(-DCMAKE_BUILD_TYPE=Debug -DSB_SANITIZE=ON)
  else
    opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  fi
  # scripts/up.sh configures build/release without the tests: turn
  # them back on, and let an empty test list fail rather than pass
  opts+=(-DSB_TESTS=ON)
  echo "== $variant build"
  cmake -S "$root" -B "$dir" "${opts[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1 ||
    { cat "$dir/build.log"; echo "build failed" >&2; exit 1; }
  echo "== $variant tests"
  # the SIGKILL crash tests run in the plain build only: what they check
  # is recovery, which sanitizers do not change, at many times the cost;
  # of the other command-line tests the sanitized build runs those listed
  # in tests/CMakeLists.txt (SB_ASAN_CLI), the rest are labelled asan_skip
  skip=()
  [ "$variant" = asan ] && skip=(-LE 'crash|asan_skip')
  (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs" "${skip[@]}" "$@")
done

#!/usr/bin/env bash
# Builds the fuzz targets with clang and libFuzzer into build/fuzz, fuzzes one
# target (or each in turn) for SECONDS, then merges the inputs that reached
# new code into the checked-in corpus, tests/fuzz/corpus/TARGET.
#
#   tests/fuzz/run.sh [TARGET|all] [SECONDS] [libFuzzer flags...]
#
# Defaults: all, 60 s each. A crash stops that target: the input is kept in
# build/fuzz/artifacts/TARGET/, the others still run, and the script exits 1.
# See tests/fuzz/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${1:-all}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
build=$root/build/fuzz
mkdir -p "$build"

# clang with its libFuzzer runtime: Debian's clang, libclang-rt-14-dev
fuzzer_links() {
  echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
    clang -fsanitize=fuzzer -x c - -o "$build/.probe" >/dev/null 2>&1
}
if ! command -v clang >/dev/null || ! fuzzer_links; then
  version=$(clang --version 2>/dev/null |
    sed -n 's/.*clang version \([0-9]*\).*/\1/p')
  pkgs=(clang "libclang-rt-${version:-14}-dev")
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing ${pkgs[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fuzzer_links || { echo "run.sh: clang -fsanitize=fuzzer fails" >&2; exit 1; }
fi

# the list may span lines
all=$(tr '\n' ' ' <"$here/CMakeLists.txt" |
  sed -n 's/.*set(SB_FUZZ_TARGETS \([^)]*\)).*/\1/p' | tr -s ' ')
targets=$all
[ "$target" = all ] || targets=$target
for t in $targets; do
  [[ " $all " == *" $t "* ]] ||
    { echo "run.sh: no target '$t' (targets: $all)" >&2; exit 2; }
done
echo "== building into $build"
CC=clang cmake -S "$root" -B "$build" -DSB_FUZZ=ON -DSB_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
# shellcheck disable=SC2046,SC2086
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' $targets) \
  >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build" # -jobs writes its fuzz-N.log files here
status=0
for t in $targets; do
  bin=$build/tests/fuzz/fuzz_$t
  corpus=$here/corpus/$t
  work=$build/corpus/$t # new inputs land here, then the merge picks
  mkdir -p "$corpus" "$work" "$build/artifacts/$t"
  opts=()
  [ -f "$here/$t.dict" ] && opts+=(-dict="$here/$t.dict")
  # shellcheck disable=SC2207
  [ -f "$here/$t.options" ] && opts+=($(grep -v '^#' "$here/$t.options"))
  echo "== fuzz_$t, ${seconds} s (log: $build/fuzz_$t.log)"
  if ! "$bin" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t/" "$@" "$work" "$corpus" \
      >"$build/fuzz_$t.log" 2>&1; then
    status=1
    grep -E 'ERROR|SUMMARY|fuzz_[a-z]+: |Test unit written' "$build/fuzz_$t.log" |
      head -20 || true
    echo "replay: $bin FILE (or build/asan/tests/fuzz/fuzz_$t FILE)"
  fi
  stats='^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|'
  stats+='average_exec_per_sec|new_units_added|peak_rss_mb)'
  grep -E "$stats" "$build/fuzz_$t.log" | tail -6 || true
  # the checked-in corpus takes one input per new edge (not per new hit
  # count): it stays small and CI replays it in seconds; $work keeps all
  before=$(find "$corpus" -type f | wc -l)
  "$bin" "${opts[@]}" -merge=1 -use_counters=0 "$corpus" "$work" \
    >"$build/merge_$t.log" 2>&1 ||
    { tail -20 "$build/merge_$t.log"; status=1; }
  kib=$(find "$corpus" -type f -printf '%s\n' |
    awk '{s += $1} END {print int(s / 1024)}')
  echo "corpus/$t: $before -> $(find "$corpus" -type f | wc -l) inputs," \
    "$kib KiB"
done
exit $status

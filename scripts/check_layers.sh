#!/usr/bin/env bash
# The layout, checked: the folders are the architecture's layers and
# dependencies point down only.
#
#   cli/         the commands, the supervisor, instance discovery   (top)
#   bench/       generator and load clients        (used by cli/ and tests/)
#   connectors/  HTTP, API, ingest, WebSocket hub  \  side by side: neither
#   processors/  the processors                    /  includes the other
#   engine/      the core library                                (bottom)
#
# Fails (exit 1, one line per violation) when a file includes a project
# header of a higher layer or of its sibling, or when a file outside
# engine/ includes librdkafka, libpq or avro-c, directly or through an
# engine header that exposes them (only the engine wraps them). The
# exceptions still to be removed (issue 11) are listed below by file; a
# listed file that no longer needs its exception is reported too, so the
# list only shrinks. tests/ may include anything. A layer's files are
# all those under its folder, subfolders included (connectors/http/...,
# processors/audit/...): a header belongs to its top-level folder, and a
# header name used in two layers is reported (an include would not say
# which).
#   check_layers.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# file -> why it still talks to a wrapped library itself
known_wrapped=(
)
# A processor includes the kit's header (sb_processor.h) and its own
# folder's headers, no other engine header; file -> why it still does
known_engine=(
)

rank() {
  case $1 in
  engine) echo 0 ;; connectors | processors) echo 1 ;; bench) echo 2 ;; cli) echo 3 ;;
  *) echo -1 ;;
  esac
}
layers=(engine connectors processors bench cli)
# the C sources and headers of a layer, subfolders included, in order
files_of() { [ -d "$1" ] && find "$1" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort; }

bad=0
report() { echo "check_layers: $*"; bad=1; }
# header name -> layer (and its path, to name both of a clash)
declare -A layer_of path_of
for l in "${layers[@]}"; do
  while IFS= read -r h; do
    [[ $h == *.h ]] || continue
    b=${h##*/}
    if [ -n "${path_of[$b]:-}" ]; then
      report "$h and ${path_of[$b]} have the same name: rename one"
      continue
    fi
    layer_of[$b]=$l
    path_of[$b]=$h
  done < <(files_of "$l")
done
# engine headers that expose a wrapped library
declare -A exposes
while IFS= read -r h; do
  [[ $h == *.h ]] || continue
  grep -qE '#include <(librdkafka/|libpq-fe\.h|avro\.h)' "$h" && exposes[${h##*/}]=1
done < <(files_of engine)

for l in "${layers[@]}"; do
  r=$(rank "$l")
  while IFS= read -r f; do
    wraps=0
    while IFS= read -r inc; do
      if [[ $inc =~ ^\<(librdkafka/|libpq-fe\.h|avro\.h) ]]; then
        [ "$l" = engine ] || wraps=1
        continue
      fi
      [[ $inc =~ ^\"(.*)\"$ ]] || continue
      h=${BASH_REMATCH[1]##*/}
      hl=${layer_of[$h]:-}
      [ -n "$hl" ] || continue
      [ "$l" != engine ] && [ -n "${exposes[$h]:-}" ] && wraps=1
      if [ "$l" = processors ] && [ "$hl" = engine ] && [ "$h" != sb_processor.h ] && [ "$h" != sb_processor_tools.h ]; then
        ke=0
        for k in "${known_engine[@]}"; do [ "$k" = "$f" ] && ke=1; done
        [ $ke -eq 1 ] || report "$f includes $h of engine/: a processor includes the kit's headers only: sb_processor.h (and sb_processor_tools.h for its commands)"
      fi
      hr=$(rank "$hl")
      if [ "$hr" -gt "$r" ] || { [ "$hr" -eq "$r" ] && [ "$hl" != "$l" ]; }; then
        report "$f includes $h of $hl/: $l/ may use only the layers below it"
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
    known=0
    for k in "${known_wrapped[@]}"; do [ "$k" = "$f" ] && known=1; done
    if [ $wraps -eq 1 ] && [ $known -eq 0 ]; then
      report "$f uses librdkafka, libpq or avro-c (directly or through an engine header that exposes them): only engine/ wraps them"
    elif [ $wraps -eq 0 ] && [ $known -eq 1 ]; then
      report "$f no longer uses a wrapped library: remove it from known_wrapped in scripts/check_layers.sh"
    fi
  done < <(files_of "$l")
done
[ $bad -eq 0 ] && echo "check_layers: OK (${#known_wrapped[@]} known wrapped-library exceptions${known_wrapped[*]:+: ${known_wrapped[*]}}; ${#known_engine[@]} processor files still using engine headers: ${known_engine[*]})"
exit $bad

#!/usr/bin/env bash
# Every command answers --help and --version; the top level lists them all.
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$work"' EXIT

"$SB" --help >"$work/top.out"
"$SB" --version | grep -q '^switchboard [0-9]' || fail "--version"
cmds=$(sed -n 's/^  \([a-z]*\)  .*/\1/p' "$work/top.out")
[ -n "$cmds" ] || fail "no commands listed"
for c in $cmds; do
  "$SB" "$c" --help >"$work/$c.out" || fail "$c --help exits non-zero"
  grep -q "^usage: switchboard $c" "$work/$c.out" || fail "$c --help has no usage"
  grep -q -- "--data-dir DIR" "$work/$c.out" || fail "$c --help lacks common flags"
  "$SB" "$c" --version | grep -q '^switchboard [0-9]' || fail "$c --version"
  "$SB" help "$c" | cmp -s - "$work/$c.out" || fail "help $c differs"
done
"$SB" config --reference >"$work/reference.md" || fail "config --reference exits non-zero"
grep -q '^| `partitions` | integer' "$work/reference.md" || fail reference
# no arguments: the help on stdout, usage exit code
rc=0; "$SB" >/dev/null || rc=$?
[ $rc -eq 2 ] || fail "bare switchboard exits $rc"
echo "help: checked $(echo $cmds | wc -w) commands"

#!/bin/sh
# Instructions per one-at-a-time SQLite rotation (bench/README.md, "Where a refresh's time goes"):
# bench/rotate-count.ts under callgrind, counted from the first timed operation to the last only.
# usage: bench/rotate-callgrind.sh [refresh|rotate|cas|casEvent] [N]; writes bench/.callgrind.<op>.out.1
set -eu
op=${1:-refresh}
n=${2:-3000}
out="bench/.callgrind.$op.out"
ready=$(mktemp -u)
rm -f "$out" "$out.1"
ROTATE_OP=$op ROTATE_N=$n ROTATE_READY=$ready valgrind -q --tool=callgrind --smc-check=all-non-file --instr-atstart=no \
  --callgrind-out-file="$out" node --conditions=warden-source --import tsx bench/rotate-count.ts &
pid=$!
until [ -f "$ready" ]; do sleep 0.1; done
callgrind_control -i on >/dev/null
touch "$ready.on" # the counted operations start only now
until [ -f "$ready.done" ]; do sleep 0.1; done
callgrind_control -d >/dev/null
touch "$ready.dumped"
wait $pid
rm -f "$ready" "$ready.on" "$ready.done" "$ready.dumped"
total=$(grep -m1 '^summary' "$out.1" | cut -d' ' -f2)
echo "$op: $((total / n)) instructions each (V8's optimising compiler included); callgrind_annotate --inclusive=yes $out.1"

#!/usr/bin/env bash
# What the attributes cost a user at build time: the same program written with them
# (examples/basic.rs) and with the builder (examples/basic_builder.rs), rebuilt in
# interleaved rounds after touching its source, so each round compiles and links that
# example alone (dependencies are built first). Prints each median and the ratio.
#
#   scripts/bench-build-time.sh [ROUNDS]      (default 10; debug profile, as users iterate)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
cargo build -q -p winddown-examples --example basic --example basic_builder
for _ in $(seq "$rounds"); do
  for ex in basic basic_builder; do
    touch "examples/$ex.rs"
    start=$(date +%s%N)
    cargo build -q -p winddown-examples --example "$ex"
    end=$(date +%s%N)
    echo "$ex $(( (end - start) / 1000000 ))"
  done
done | sort -k1,1 -k2,2n | awk -v rounds="$rounds" '
  { ms[$1] = ms[$1] " " $2; n[$1]++ ; v[$1, n[$1]] = $2 }
  END {
    for (ex in n) { m = int((n[ex] + 1) / 2); med[ex] = v[ex, m];
      printf "%-14s median %5d ms  (min %d, max %d, %d rounds)\n", ex, med[ex], v[ex, 1], v[ex, n[ex]], n[ex] }
    printf "ratio attributes/builder: %.3f\n", med["basic"] / med["basic_builder"]
  }'

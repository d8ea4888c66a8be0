#!/usr/bin/env bash
# Mutation-fuzz the native decode core (native/tests/mutations.rs) for a while; not run in CI.
# cargo-fuzz is not installed on these machines, so this is a seeded mutation loop over the
# vendored packets (truncations, bit flips, random bytes) in release mode, a new seed per round.
#   scripts/fuzz-native.sh [ROUNDS] [CASES_PER_SAMPLE]
set -euo pipefail
cd "$(dirname "$0")/../native"
rounds="${1:-5}"
cases="${2:-2000}"
for round in $(seq 1 "$rounds"); do
    seed=$(( (RANDOM << 16) ^ RANDOM ^ round ))
    echo "fuzz-native: round $round/$rounds seed=$seed cases=$cases"
    RBC_FUZZ_CASES="$cases" RBC_FUZZ_SEED="$seed" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
        cargo test --release --no-default-features --test mutations -q
done

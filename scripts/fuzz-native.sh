#!/usr/bin/env bash
# Fuzz the native decode core; not run in CI. Two stages:
#  1. a seeded mutation loop (native/tests/mutations.rs: truncations, bit flips, random bytes of
#     the vendored packets) in release mode, a new seed per round;
#  2. coverage-guided fuzzing with libFuzzer (cargo-fuzz, target native/fuzz/fuzz_targets/
#     decode_packet.rs) for FUZZ_SECONDS (default 60). It runs on stable Rust with
#     --sanitizer none (the core has no unsafe code beyond PyO3's, which the target does not
#     build); FUZZ_SANITIZER=address with FUZZ_TOOLCHAIN=+nightly adds AddressSanitizer.
#     Seeds: tests/data/alerts and Confluent-framed Rubin records (native/fuzz/confluent_seeds.py);
#     the growing corpus stays in native/fuzz/corpus/, a crash in native/fuzz/artifacts/ (exit 1).
#   scripts/fuzz-native.sh [ROUNDS] [CASES_PER_SAMPLE]      FUZZ_SECONDS=0 skips stage 2
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and the project's .venv for the seeds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/native"
rounds="${1:-5}"
cases="${2:-2000}"
seconds="${FUZZ_SECONDS:-60}"
for round in $(seq 1 "$rounds"); do
    seed=$(( (RANDOM << 16) ^ RANDOM ^ round ))
    echo "fuzz-native: round $round/$rounds seed=$seed cases=$cases"
    RBC_FUZZ_CASES="$cases" RBC_FUZZ_SEED="$seed" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
        cargo test --release --no-default-features --test mutations -q
done
[ "$seconds" -gt 0 ] || exit 0
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-native: cargo-fuzz is missing; install it with: cargo install cargo-fuzz" >&2
    exit 2
fi
cd "$root/native/fuzz"
python="$root/.venv/bin/python"
mkdir -p corpus/decode_packet
"$python" confluent_seeds.py corpus/seeds-confluent
echo "fuzz-native: libFuzzer for ${seconds}s (corpus native/fuzz/corpus/decode_packet)"
# shellcheck disable=SC2086  # FUZZ_TOOLCHAIN is empty or one word such as +nightly
cargo ${FUZZ_TOOLCHAIN:-} fuzz run --sanitizer "${FUZZ_SANITIZER:-none}" -O decode_packet \
    corpus/decode_packet "$root/tests/data/alerts" corpus/seeds-confluent \
    -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ for a bounded time: scripts/fuzz.sh [SECONDS_PER_TARGET]
# [TARGET...]. The default (6 s each, about 36 s for the six targets) is what the test command
# runs; give an hour (3600) or more for a real campaign. Each target starts from its committed
# seeds (fuzz/corpus/<target>/, never written to) plus the corpus earlier runs grew, which is
# kept beside the build (in $CARGO_TARGET_DIR/fuzz, or target/fuzz), not in the repository.
# Crashes, hangs and logs go to test-artifacts/fuzz/; exits non-zero when any target found one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

seconds=${1:-6}
shift || true
case $seconds in '' | *[!0-9]*) die "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" ;; esac

# cargo-fuzz passes nightly-only flags (-Z...) to rustc and cargo; this machine has only stable
# Rust, which accepts them when told it is bootstrapping itself.
export RUSTC_BOOTSTRAP=1
# No sanitizer: our crates forbid unsafe code, so AddressSanitizer could only catch memory bugs in
# dependencies, and it costs a lot here: the protocol target ran at 9,500 inputs/s with it against
# 59,000 without, and building that one target took longer (5.5 min) than all five without it
# (3.7 min). Panics, overflows (overflow checks are on in fuzz builds) and hangs are what we look
# for, and libFuzzer sees them without a sanitizer. `--sanitizer address` works too, for a campaign.
sanitizer=none
build_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
artifacts=test-artifacts/fuzz
# A grown corpus larger than this is minimized (libFuzzer's merge) before the run.
max_corpus_files=4000
fuzz=(cargo fuzz)
opts=(--sanitizer "$sanitizer" --target-dir "$build_dir")

ensure_cargo_fuzz
# The fuzz crate has its own lock file (it is outside the workspace); refuse to change it.
cargo fetch --locked --manifest-path fuzz/Cargo.toml ||
    die "fuzz/Cargo.lock is stale (did sessionforge-shared's dependencies change?): run \`cargo update --manifest-path fuzz/Cargo.toml --workspace\` and commit it"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list)
fi

say "building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
started=$SECONDS
"${fuzz[@]}" build "${opts[@]}"
echo "built in $((SECONDS - started)) s"

mkdir -p "$artifacts"
failed=()
for target in "${targets[@]}"; do
    corpus="$build_dir/corpus/$target"
    mkdir -p "$corpus" "$artifacts/$target"
    if [ "$(find "$corpus" -type f | wc -l)" -gt "$max_corpus_files" ]; then
        "${fuzz[@]}" cmin "${opts[@]}" "$target" "$corpus" >"$artifacts/$target.cmin.log" 2>&1 || true
    fi
    # JSON targets get a dictionary of JSON syntax and number-type edges (fuzz/dicts/).
    dict=()
    case $target in protocol | manifest) dict=(-dict=fuzz/dicts/json.dict) ;; esac
    log="$artifacts/$target.log"
    say "fuzzing $target for $seconds s"
    # New inputs go to the first corpus dir (the grown one); the seeds are only read.
    # -timeout: an input that takes this many seconds is a hang, and reported as a finding.
    if "${fuzz[@]}" run "${opts[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -artifact_prefix="$artifacts/$target/" \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        # "Done 1234567 runs in 7 second(s)" and the final coverage, corpus size and speed.
        done_line=$(grep -E '^Done [0-9]+ runs' "$log" || true)
        stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -oE '(cov|corp|exec/s): [^ ]+' | paste -sd ' ' - || true)
        echo "$target: ${done_line:-no summary} ($stats)"
    else
        failed+=("$target")
        # The panic message and the input that caused it (libFuzzer prints where it saved it).
        grep -E -A3 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -n 20 || true
        grep -E 'Test unit written to|^Base64:' "$log" || true
        warn "$target failed: full log in $log; reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer $target $artifacts/$target/crash-…"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    die "fuzzing found problems in: ${failed[*]}"
fi
say "fuzzing: ${#targets[@]} targets, $seconds s each, no findings"

#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, starting from the seed corpus (copied, so the
# tree is left as it is). Exit status non-zero on the first crash, leak or sanitizer report.
#   run_fuzzers.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?build directory configured with -DLATCH_FUZZ=ON}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/latch-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
for target in bencode ng_request sdp rtp rtpp control; do
  mkdir -p "$work/$target"
  cp "$here/corpus/$target/"* "$work/$target/"
  log="$work/$target.log"
  if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/$target-" "$work/$target" >"$log" 2>&1; then
    echo "fuzz_$target FAILED:"; tail -40 "$log"
    ls "$work"/"$target"-* 2>/dev/null && cp "$work"/"$target"-* . 2>/dev/null || true
    exit 1
  fi
  runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1)
  echo "fuzz_$target: $runs executions in ${seconds} s, $cov, no crash, leak or sanitizer finding"
done

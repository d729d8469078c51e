#!/usr/bin/env bash
# The one test command (run from the repo root):
#   1. installs the test dependencies (idempotent; a fast no-op when already installed)
#   2. cargo build -p confab, cargo test --workspace
#   3. the conformance harness: the official Twilio/SignalWire clients against a real confab,
#      the OpenAPI contract check of every captured response, and schemathesis
# The last line is "N passed, N failed": the conformance runners' counts, plus one failure if
# the Rust build or tests failed. Exit status is non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install-test-deps.sh

rust_failed=0
if ! cargo build -p confab; then
  echo "cargo build -p confab failed: the conformance suites need target/debug/confab" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if ! cargo test --workspace; then
  echo "cargo test --workspace failed" >&2
  rust_failed=1
fi

summary="$ROOT/target/conformance/summary.json"
mkdir -p "$(dirname "$summary")"
rm -f "$summary"
conformance_rc=0
# honour CARGO_TARGET_DIR / a shared target dir
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  .test-deps/py-tools/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' || echo "$ROOT/target")"
.test-deps/py-tools/bin/python tests/conformance/run.py --confab "$target_dir/debug/confab" --summary-json "$summary" ||
  conformance_rc=$?

if [[ -f "$summary" ]]; then
  read -r passed failed < <(.test-deps/py-tools/bin/python -c \
    'import json,sys; s=json.load(open(sys.argv[1])); print(s["passed"], s["failed"])' "$summary")
else
  passed=0
  failed=1
fi
if ((conformance_rc != 0 && failed == 0)); then failed=1; fi
failed=$((failed + rust_failed))

echo "${passed} passed, ${failed} failed"
((failed == 0))

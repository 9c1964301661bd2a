#!/usr/bin/env bash
# Run upstream metalab's examples, README snippet and API tests UNCHANGED against this package,
# from a scratch directory outside the repository (docs/compatibility.md).
# Usage: scripts/upstream-compat.sh UPSTREAM [--examples-only|--tests-only] [pytest args...]
#   UPSTREAM: a checkout or a bare clone of GitHub matthewmazurek/metalab (nothing of it is
#   copied into this repository; it is extracted to a temporary directory and deleted after).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
upstream=${1:?usage: scripts/upstream-compat.sh UPSTREAM [--examples-only|--tests-only]}
shift
mode=all
case "${1:-}" in --examples-only) mode=examples; shift ;; --tests-only) mode=tests; shift ;; esac
python=${METALAB_PYTHON:-$repo/.venv/bin/python}
scratch=$(mktemp -d /tmp/metalab-upstream-compat.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
git -C "$upstream" archive HEAD README.md examples tests | tar -x -C "$scratch"
cd "$scratch"

TESTS=(
  tests/unit/test_seeds.py tests/contract/test_seed_discipline.py tests/unit/test_params.py
  tests/unit/test_operation.py tests/unit/test_capture.py tests/unit/test_events.py
  tests/unit/test_derived.py tests/integration/test_derived.py tests/integration/test_runner.py
  tests/integration/test_file_store.py tests/test_config.py tests/test_executor_config.py
)
status=0
if [ "$mode" != tests ]; then
  # The README's "Getting Started" block, as mvp.py.
  "$python" - <<'PY' > mvp.py
import re
text = open("README.md", encoding="utf-8").read()
blocks = re.findall(r"```python\n(.*?)```", text, re.S)
print(next(b for b in blocks if "mvp" in b))
PY
  examples=(mvp.py examples/pi_mc/run.py examples/curve_fit/run.py examples/hypersearch/run.py
            examples/optbench/run.py)
  passed=0 failed=0
  for example in "${examples[@]}"; do
    started=$EPOCHREALTIME
    if "$python" "$example" > "$scratch/out.txt" 2>&1; then
      passed=$((passed + 1)); verdict=ok
    else
      failed=$((failed + 1)); verdict=FAILED; status=1
      tail -n 15 "$scratch/out.txt" | sed 's/^/    /'
    fi
    printf 'example %-30s %-6s %6.1f s\n' "$example" "$verdict" "$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')"
  done
  echo "examples: $passed passed, $failed failed"
fi
if [ "$mode" != examples ]; then
  "$python" -m pytest -q -p no:cacheprovider --rootdir "$scratch" "${TESTS[@]}" "$@" || status=1
fi
exit "$status"

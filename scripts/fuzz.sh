#!/usr/bin/env bash
# A longer fuzz session of the detector than CI runs:
#
#   ./scripts/fuzz.sh            30 minutes
#   ./scripts/fuzz.sh 120        two hours
#
# It repeats the hypothesis fuzz tests (tests/unit/test_fuzz_pipeline.py) with 20 times CI's
# examples and a fresh seed each round until the time is up. The smallest input of every distinct
# crash is saved as tests/fuzz/regressions/<test>-<hash>.eml; commit it with the fix, and
# test_saved_regressions_get_a_verdict replays it in every later run.
#
# Environment: ACCHUB_FUZZ_SCALE (default 20) multiplies the number of examples per round.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes="${1:-30}"
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
    echo "usage: $0 [minutes]   (a whole number of minutes, default 30)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "no .venv: run ./scripts/test.sh once to set it up" >&2
    exit 2
fi

end=$(( $(date +%s) + minutes * 60 ))
round=0
status=0
before=$(find tests/fuzz/regressions -name '*.eml' 2>/dev/null | wc -l)
while [ "$(date +%s)" -lt "$end" ]; do
    round=$((round + 1))
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    echo "== round $round, seed $seed"
    if ! ACCHUB_FUZZ_SAVE=1 ACCHUB_FUZZ_SCALE="${ACCHUB_FUZZ_SCALE:-20}" \
        .venv/bin/python -m pytest -q -p no:cacheprovider --hypothesis-seed="$seed" \
        tests/unit/test_fuzz_pipeline.py -k "not regressions"; then
        status=1
    fi
done
after=$(find tests/fuzz/regressions -name '*.eml' 2>/dev/null | wc -l)
echo "== $round round(s); $((after - before)) new crashing input(s) in tests/fuzz/regressions/"
exit "$status"

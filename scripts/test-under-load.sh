#!/usr/bin/env bash
# Run the whole test suite several times while CPU-burning processes run beside it, to show that no
# test depends on the machine being quiet (issue #17). Usage, from the repository root after `npm ci`:
#   scripts/test-under-load.sh [RUNS]        (default 3 runs; BURNERS=2 busy loops, one per core here)
# Each run's output goes to .tmp/load-run-N.log; the exit status is non-zero if any run failed.
set -u
runs=${1:-3}
burners=${BURNERS:-2}
mkdir -p .tmp
pids=()
for _ in $(seq "$burners"); do
  (while :; do :; done) &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
echo "load: $burners busy loops beside npm test; $(nproc) cores"
failed=0
for r in $(seq "$runs"); do
  start=$(date +%s)
  if npm test >".tmp/load-run-$r.log" 2>&1; then result=pass; else result=FAIL; failed=1; fi
  counts=$(sed 's/\x1b\[[0-9;]*m//g' ".tmp/load-run-$r.log" | grep -E '^ +Tests ' | tail -1 | sed 's/^ *//')
  echo "run $r: $result in $(($(date +%s) - start)) s; ${counts:-no test counts}; load $(cut -d' ' -f1-3 /proc/loadavg)"
done
exit $failed

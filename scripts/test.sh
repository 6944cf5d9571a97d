#!/usr/bin/env bash
# test.sh: the whole suite, as `make test` runs it, every tool required
# (DEPLOY_REQUIRE_SSHD=1: a missing sshd, node, … fails, never skips).
# cmd/deploy's end-to-end tests each talk to a real sshd and mostly wait
# on it, one after the other; they run as two shards next to the other
# packages, so the suite takes about its longest package's time, not
# cmd/deploy's serial sum. Every test runs in exactly one shard.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEPLOY_REQUIRE_SSHD=1
go=${GO:-go}
flags=(-race -count=1 -timeout 12m)
first='^Test[A-F]' # cmd/deploy's first shard; the second is everything else (with A-E, 458 s and 598 s on 12-06; the F tests take 50 s alone)

mapfile -t others < <("$go" list ./... | grep -v '/cmd/deploy$')
pids=()
"$go" test "${flags[@]}" "${others[@]}" &
pids+=($!)
"$go" test "${flags[@]}" -run "$first" ./cmd/deploy &
pids+=($!)
"$go" test "${flags[@]}" -skip "$first" ./cmd/deploy &
pids+=($!)
status=0
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
exit "$status"

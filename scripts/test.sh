#!/usr/bin/env bash
# test.sh: the whole suite, as `make test` runs it, every tool required
# (DEPLOY_REQUIRE_SSHD=1: a missing sshd, node, … fails, never skips).
# cmd/deploy's end-to-end tests each talk to a real sshd and mostly wait
# on it, one after the other; they run as three shards next to the other
# packages, so the suite takes about its longest package's time, not
# cmd/deploy's serial sum. Every test runs in exactly one shard.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEPLOY_REQUIRE_SSHD=1
go=${GO:-go}
# -timeout is a net for a hung test, not a budget: a cmd/deploy shard took
# 662 s in a CI run of 11m46s (12-06), too near 12 min for a slower machine.
flags=(-race -count=1 -timeout 14m)
# cmd/deploy's shards, by name: A-E but the non-Python build-auto tests;
# F-L; those and the rest. Alone on a quiet machine A-E took 225 s (147 s
# of it TestE2EBuildAuto*, 65 s of those Python's) and M-Z 45 s; with A-E,
# F-L and the rest as the shards, CI took 580, 300 and 181 s of the 12 min
# timeout (12-06).
first='^Test[A-E]' firstSkip='^TestE2EBuildAuto[^P]' second='^Test[F-L]'

# The deploy package, likewise in two (tests A-E; the rest with its fuzz
# seeds and examples): 665 s of the 12 min timeout in one CI run (12-06)
# while a benchmark ran beside it, 184 s alone.
deployFirst='^Test[A-E]' deploySecond='^Test[^A-E]|^Fuzz|^Example'

mapfile -t others < <("$go" list ./... | grep -v -x -e '.*/cmd/deploy' -e 'github.com/deploytool/deploy/deploy')
pids=()
"$go" test "${flags[@]}" "${others[@]}" &
pids+=($!)
"$go" test "${flags[@]}" -run "$deployFirst" ./deploy &
pids+=($!)
"$go" test "${flags[@]}" -run "$deploySecond" ./deploy &
pids+=($!)
"$go" test "${flags[@]}" -run "$first" -skip "$firstSkip" ./cmd/deploy &
pids+=($!)
"$go" test "${flags[@]}" -run "$second" ./cmd/deploy &
pids+=($!)
"$go" test "${flags[@]}" -run "$firstSkip|^Test[^A-L]" ./cmd/deploy &
pids+=($!)
status=0
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
exit "$status"

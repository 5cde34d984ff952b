#!/usr/bin/env bash
# Runs the benchmarks side by side and prints their tables (see README, "Performance").
# Needs: `make setup` (or SER_HOME with `ser setup` done), ../shared/data, and for
# the Node peer, Node.js (npm ci installs the reference runtime here).
set -euo pipefail
cd "$(dirname "$0")/.."
export SER_HOME=${SER_HOME:-$PWD/.ser-home}
(cd models/reference && npm ci --ignore-scripts --silent)
echo "== backbone: ser pipeline vs ONNX Runtime alone vs the Node peer (2,000 HH-RLHF responses)"
go run ./bench/backbone -n 2000
echo "== feature cache"
go test ./cache -run XXX -bench 'Matrix|Put' -benchtime 40x

#!/usr/bin/env bash
# Runs the benchmarks against the reference peer, in one run, on this machine.
#   bash bench/run.sh            portable build (the one that ships)
#   WARDEN_NATIVE=1 bash bench/run.sh   shim tuned for this CPU (-march=native)
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/peers/setup.sh
scratch=.build
if [ "${WARDEN_NATIVE:-}" = 1 ]; then scratch=.build-native; fi
swift build -c release --scratch-path "$scratch"
mkdir -p bench/out
"$scratch/release/warden" bench faces --peer-python bench/.venv/bin/python "$@" | tee "bench/out/faces-$(date +%Y%m%d-%H%M%S).txt"

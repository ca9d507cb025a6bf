#!/usr/bin/env bash
# Does a learned metric head beat the raw dlib embedding on people it has never seen?
# For each seed (which fixes the identity split and training) and each configuration:
# train-metric on the seed's training identities (early stopping on its validation
# identities), then eval --compare base,learned on its held-out test identities. Every
# seed and configuration is reported; none is chosen after looking.
#   bench/metric-learning.sh [DATASET] [SEEDS]      (defaults: ../shared/faces, "1 2 3 4 5")
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:-../shared/faces}
SEEDS=${2:-1 2 3 4 5}
WARDEN=${WARDEN:-.build/release/warden}
[ -x "$WARDEN" ] || swift build -c release --product warden >/dev/null
[ -x "$(dirname "$WARDEN")/warden-lab" ] || swift build -c release --product warden-lab >/dev/null
[ -d "$DATASET" ] || { echo "metric-learning: $DATASET is absent; nothing to measure" >&2; exit 0; }
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
configs=("triplet linear:--loss triplet --head linear"
         "triplet mlp:--loss triplet --head mlp"
         "contrastive linear:--loss contrastive --head linear"
         "contrastive-sq linear:--loss contrastive --squared-hinge --head linear"
         "contrastive mlp:--loss contrastive --head mlp")
printf "%-24s %4s %5s %11s %11s %11s %11s %9s %9s\n" config seed epoch "EER base" "EER learn" "1e-3 base" "1e-3 learn" "test ids" "genuine"
for c in "${configs[@]}"; do
  name=${c%%:*}; args=${c#*:}
  for seed in $SEEDS; do
    head="$home/$(echo "$name" | tr ' ' '-')-$seed.json"
    # shellcheck disable=SC2086
    "$WARDEN" train-metric "$DATASET" $args --seed "$seed" --out "$head" --home "$home" --json >"$home/train.json" 2>/dev/null
    "$WARDEN" eval "$DATASET" --compare base,learned --metric-head "$head" --seed "$seed" --home "$home" --json >"$home/eval.json" 2>/dev/null
    python3 - "$name" "$seed" "$home/train.json" "$home/eval.json" <<'PY'
import json, sys
name, seed, t, e = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
def at(r, fmr):
    p = [x for x in r["atFMR"] if abs(x["targetFMR"] - fmr) < 1e-12][0]
    return f'{p["fnmr"] * 100:.2f}%' if p["supported"] else "n/s"
b, l = e["base"], e["learned"]
print(f'{name:<24} {seed:>4} {t["metadata"]["bestEpoch"]:>5} {b["eer"] * 100:>10.2f}% {l["eer"] * 100:>10.2f}% {at(b, 1e-3):>11} {at(l, 1e-3):>11} {b["identities"]:>9} {b["genuinePairs"]:>9}')
PY
  done
done

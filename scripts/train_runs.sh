#!/usr/bin/env bash
# Train the report's extra run folders one after another, each with the README's notebook-03 command.
#
#   scripts/train_runs.sh seed1 seed2 seed3 cvae      # the default when no name is given
#   scripts/train_runs.sh cvae_seed1 cvae_seed2       # two more training runs of the conditional VAE
#
# seedN: the main protocol (validation split of 5,000 images, patience 10) with training seed N in runs/seedN;
# the validation split keeps split_seed 0, so only the initialisation and the batch order differ from models/.
# cvae: the conditional VAE under the same protocol in runs/cvae; cvae_seedN: the same with training seed N.
# Every run is resumable: running this again continues an unfinished run and reuses a finished one.
# Extra papermill arguments for every run can follow a "--", e.g. "-- -p max_minutes 120".
set -euo pipefail
cd "$(dirname "$0")/.."
PAPERMILL="${PAPERMILL:-.venv/bin/papermill}"

names=()
while [[ $# -gt 0 && "$1" != "--" ]]; do names+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
[[ ${#names[@]} -eq 0 ]] && names=(seed1 seed2 seed3 cvae)

for name in "${names[@]}"; do
    case "$name" in
        seed[0-9]*) args=(-p seed "${name#seed}") ;;
        cvae) args=(-p model_name cvae) ;;
        cvae_seed[0-9]*) args=(-p model_name cvae -p seed "${name#cvae_seed}") ;;
        *) echo "unknown run name '$name': use seedN, cvae or cvae_seedN (N a non-negative integer)" >&2; exit 2 ;;
    esac
    mkdir -p "build/$name"
    echo "$(date -u +%FT%TZ) training runs/$name" >&2
    env -u CI "$PAPERMILL" --log-output notebooks/03_train.ipynb "build/$name/03_train.ipynb" \
        -p run_dir "runs/$name" "${args[@]}" "${extra[@]}" > "build/$name/train.log" 2>&1 \
        || echo "$(date -u +%FT%TZ) runs/$name stopped with an error: see build/$name/train.log" >&2
done

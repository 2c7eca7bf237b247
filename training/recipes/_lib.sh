# shellcheck shell=bash
# Shared by the recipes in this folder (sourced, not run): paths, step parsing, logging.
#
# A recipe is run as   training/recipes/NAME.sh [STEP ...] [-- EXTRA_FLAGS ...]
# from the repository root (relative paths are taken from there). No STEP runs the recipe's
# default steps in order; EXTRA_FLAGS go to the end of the recipe's train_ce.py command line,
# where argparse lets a later flag override an earlier one (`--max-steps 9728`,
# `--demo-domain ''`): that is how the experiments in docs/experiments.md are run.

RELEX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T="$RELEX_ROOT/training"
cd "$RELEX_ROOT" || exit 1

: "${WORK:?set WORK to the folder training/prepare_data.sh wrote (WORK/data, WORK/wordnet, WORK/base)}"
DEADLINE=${DEADLINE:-100000}   # seconds after which train_ce.py / gpu_f32_demo.py skip work left
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1

STEPS=()
EXTRA=()
parse_steps() {  # parse_steps DEFAULT_STEP... -- "$@"
    local defaults=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do defaults+=("$1"); shift; done
    shift  # the "--" between the defaults and the recipe's own arguments
    while [ $# -gt 0 ]; do
        if [ "$1" = "--" ]; then shift; EXTRA=("$@"); break; fi
        STEPS+=("$1"); shift
    done
    [ ${#STEPS[@]} -gt 0 ] || STEPS=("${defaults[@]}")
}

# smoke_flags: `--smoke N` when SMOKE=N is set (a tiny run: N queries per split, N items per domain,
# to check a recipe end to end on a CPU in minutes; its numbers mean nothing)
smoke_flags() { [ -z "${SMOKE:-}" ] || echo "--smoke $SMOKE"; }

step() { echo "== $(date +%H:%M:%S) $*" >&2; }

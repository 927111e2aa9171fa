#!/usr/bin/env bash
# Runs the FedJETs experiment grid with build/bin/fedjets-sim, then writes
# docs/RESULTS.md and docs/plots/*.png with build/bin/fedjets-report.
#
#   scripts/experiment.sh                        # the full grid
#   ROUNDS=3 SEEDS=1 CLIENTS=12 scripts/experiment.sh   # a tiny grid
#   SETTINGS="weak dirichlet" METHODS=fedjets scripts/experiment.sh
#   DRY_RUN=1 scripts/experiment.sh              # print the commands only
#   VALIDATION_CLIENTS=5 RUNS_DIR=runs/validation scripts/experiment.sh
#
# Runs that already finished (an "end" event in metrics.jsonl) are skipped,
# so an interrupted grid continues where it stopped; FORCE=1 reruns them.
# A run that fails is logged and left unfinished: fedjets-report lists it
# and keeps it out of the means. Extra arguments go to every fedjets-sim.
# The grid's hyper-parameters (PROX_MU, ROUTING_LOSS, SERVE_MASS, ...) are
# fixed values: choose them on validation clients cut from the training
# split with scripts/tune.sh, never on this grid's unseen (test) clients.
# VALIDATION_CLIENTS=N (default 0: none) gives every run N validation
# clients cut from VALIDATION_FRACTION (default 0.1) of the training split
# (--validation-clients N --validation-fraction F), and RESULTS.md a
# validation column; the cut leaves the clients less data, so such runs are
# not the runs without it: use a RUNS_DIR of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- the grid (every variable can be overridden from the environment) ----
ROUNDS=${ROUNDS:-100}
CNN_ROUNDS=${CNN_ROUNDS:-60}  # rounds of the *-cnn settings (~4 s a round)
EVAL_EVERY=${EVAL_EVERY:-10}  # evaluate (and plot) every N rounds
SEEDS=${SEEDS:-"1 2 3"}
CLIENTS=${CLIENTS:-100}
CLIENTS_PER_ROUND=${CLIENTS_PER_ROUND:-$((CLIENTS < 10 ? CLIENTS : 10))}
PROCESSES=${PROCESSES:-2}
MODEL=${MODEL:-mlp}
NUM_EXPERTS=${NUM_EXPERTS:-5}
TOP_K=${TOP_K:-2}
ANCHOR_SHARE=${ANCHOR_SHARE:-0.5}
PROX_MU=${PROX_MU:-0.01}  # FedProx proximal weight (fedprox runs only)
ROUTING_LOSS=${ROUTING_LOSS:-1}  # --routing-loss of the *-routing settings
# --serve-mass and --serve-max-k of the *-em settings.
SERVE_MASS=${SERVE_MASS:-0.97}
SERVE_MAX_K=${SERVE_MAX_K:-5}
# Validation clients of every run (0: none; see the header).
VALIDATION_CLIENTS=${VALIDATION_CLIENTS:-0}
VALIDATION_FRACTION=${VALIDATION_FRACTION:-0.1}
METHODS=${METHODS:-"fedjets fedavg fedprox"}
# Ablations vary FedJETs only.
ABLATION_METHODS=${ABLATION_METHODS:-"fedjets"}
SETTINGS=${SETTINGS:-"weak weak-anchor-gate weak-anchor-gate-150-rounds \
warmup-100 warmup-60 strong strong-anchor-gate strong-cnn \
dirichlet dirichlet-anchor-gate dirichlet-warmup-100 dirichlet-strong \
dirichlet-strong-anchor-gate dirichlet-strong-cnn \
random-labels random-labels-anchor-gate \
ablation-no-anchors ablation-anchor-share-0.3 ablation-anchor-share-0.7 \
ablation-k1"}
RUNS_DIR=${RUNS_DIR:-runs/experiment}
OUT=${OUT:-docs}
SIM=${SIM:-build/bin/fedjets-sim}
REPORT=${REPORT:-build/bin/fedjets-report}
# Pretrained common experts, shared by every run with the same data, model,
# budget and seed (a strong CNN one takes minutes to pretrain).
CACHE=${CACHE:-runs/common-experts}

[[ $VALIDATION_CLIENTS =~ ^[0-9]+$ ]] || {
  echo "experiment.sh: VALIDATION_CLIENTS must be a count >= 0, not" \
       "'$VALIDATION_CLIENTS'" >&2; exit 2; }
validation_flags=""
if (( VALIDATION_CLIENTS > 0 )); then
  validation_flags="--validation-clients $VALIDATION_CLIENTS"
  validation_flags="$validation_flags --validation-fraction $VALIDATION_FRACTION"
fi

# Setting -> fedjets-sim flags. A setting is a base, then optional suffixes:
#   -cnn             the CNN model, CNN_ROUNDS rounds
#   -paper           the paper's recipe instead of fedjets' defaults:
#                    normal clients train the gate, hard top-K serving
#                    (--normal-gate-lr -1 --serve-hard --serve-mass 0);
#                    a suffix after it changes that part alone (e.g.
#                    weak-paper-anchor-gate, weak-paper-soft,
#                    weak-paper-em: one of fedjets' defaults on the paper)
#   -anchor-gate     only anchors train the gate (--normal-gate-lr 0, the
#                    default)
#   -generalist      a generalist expert (--generalist-expert)
#   -gwW             instead of -generalist: a generalist expert with the
#                    fixed mixture weight W (--generalist-expert
#                    --generalist-weight W), e.g. dirichlet-gw0.2-routing
#   -routing         normal clients' routing loss (--routing-loss
#                    $ROUTING_LOSS; normal clients then train the gate:
#                    --normal-gate-lr -1)
#   -soft            soft zero-shot serving (--serve-mixture, the default)
#   -em              zero-shot experts by EM prior and adaptive K
#                    (--serve-mass $SERVE_MASS --serve-max-k $SERVE_MAX_K,
#                    the defaults); FedAvg/FedProx: their EM baseline
#                    (--serve-label-shift)
#   -N-rounds        N rounds
# in that order from the end (e.g. dirichlet-generalist-routing-30-rounds,
# dirichlet-gw0.2-routing-soft-30-rounds,
# weak-routing-soft-em-30-rounds,
# dirichlet-strong-cnn, weak-anchor-gate-150-rounds). "random-labels":
# any 4 random labels per client, the harder variant of the grouped split.
# "warmup-R", "dirichlet-warmup-R": the common expert is R FedAvg rounds
# of the federation.
setting_flags() {
  local partition=grouped common=weak share=$ANCHOR_SHARE k=$TOP_K extra=""
  local model=$MODEL rounds=$ROUNDS setting=$1
  if [[ $setting =~ ^(.*)-([0-9]+)-rounds$ ]]; then
    setting=${BASH_REMATCH[1]}
    rounds=${BASH_REMATCH[2]}
  fi
  if [[ $setting == *-em ]]; then
    extra="$extra --serve-mass $SERVE_MASS --serve-max-k $SERVE_MAX_K"
    setting=${setting%-em}
  fi
  if [[ $setting == *-soft ]]; then
    extra="$extra --serve-mixture"
    setting=${setting%-soft}
  fi
  if [[ $setting == *-routing ]]; then
    extra="$extra --routing-loss $ROUTING_LOSS"
    [[ $setting == *-anchor-gate* || $setting == *-paper* ]] ||
      extra="$extra --normal-gate-lr -1"
    setting=${setting%-routing}
  fi
  if [[ $setting == *-generalist ]]; then
    extra="$extra --generalist-expert"
    setting=${setting%-generalist}
  elif [[ $setting =~ ^(.*)-gw([0-9.]+)$ ]]; then
    extra="$extra --generalist-expert --generalist-weight ${BASH_REMATCH[2]}"
    setting=${BASH_REMATCH[1]}
  fi
  if [[ $setting == *-anchor-gate ]]; then
    extra="$extra --normal-gate-lr 0"
    setting=${setting%-anchor-gate}
  fi
  if [[ $setting == *-paper ]]; then
    # The paper's recipe, except what a suffix after -paper set: so
    # weak-paper-soft is the paper with soft serving alone.
    [[ $extra == *--normal-gate-lr* ]] || extra="$extra --normal-gate-lr -1"
    [[ $extra == *--serve-mixture* ]] || extra="$extra --serve-hard"
    [[ $extra == *--serve-mass* ]] || extra="$extra --serve-mass 0"
    setting=${setting%-paper}
  fi
  if [[ $setting == *-cnn ]]; then
    model=cnn
    [[ $1 =~ -rounds$ ]] || rounds=$CNN_ROUNDS
    setting=${setting%-cnn}
  fi
  case "$setting" in
    weak) ;;
    warmup-*) common=fedavg:${setting#warmup-} ;;
    dirichlet-warmup-*) partition=dirichlet:0.1
                        common=fedavg:${setting#dirichlet-warmup-} ;;
    strong) common=strong ;;
    dirichlet) partition=dirichlet:0.1 ;;
    dirichlet-strong) partition=dirichlet:0.1 common=strong ;;
    random-labels) partition=grouped-random ;;
    ablation-anchor-share-0.3) share=0.3 ;;
    ablation-anchor-share-0.7) share=0.7 ;;
    ablation-k1) k=1 ;;
    ablation-no-anchors) [[ $extra == *--normal-gate-lr* ]] ||
                           extra="$extra --normal-gate-lr -1"
                         extra="$extra --no-anchors" ;;
    *) echo "experiment.sh: unknown setting '$1'; add it to setting_flags" >&2
       return 1 ;;
  esac
  echo "--partition $partition --common-expert $common --anchor-share $share" \
       "--num-experts $NUM_EXPERTS --top-k $k --model $model --rounds $rounds" \
       "$extra"
}

# The setting whose runs a method shares: FedAvg and FedProx ignore the
# gate and the experts, so an -anchor-gate, -generalist, -gwW, -routing or
# -soft variant reuses its base setting's runs (an -em one does not: FedAvg
# and FedProx then serve with --serve-label-shift).
run_setting() {
  local setting=$1 method=$2
  if [[ $method != fedjets ]]; then
    setting=${setting/-anchor-gate/}
    setting=${setting/-generalist/}
    if [[ $setting =~ ^(.*)-gw[0-9.]+(-.*)?$ ]]; then
      setting=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
    fi
    setting=${setting/-routing/}
    setting=${setting/-paper/}
    setting=${setting/-soft/}
  fi
  echo "$setting"
}

finished() { grep -Eqs '"event": ?"end"' "$1/metrics.jsonl"; }

# Whether finished run $1 had this grid's validation clients: the same
# count (0: none, as runs from before --validation-clients) and, with some,
# the same fraction, read from its config.ini. Prints what it had if not.
same_validation() {
  local n f
  n=$(sed -n 's/^validation-clients=//p' "$1/config.ini" 2>/dev/null | head -1)
  f=$(sed -n 's/^validation-fraction=//p' "$1/config.ini" 2>/dev/null | head -1)
  n=${n:-0}
  if [[ $n == "$VALIDATION_CLIENTS" ]] && { (( n == 0 )) ||
      awk -v a="$f" -v b="$VALIDATION_FRACTION" 'BEGIN { exit !(a + 0 == b + 0) }'; }; then
    return 0
  fi
  echo "validation-clients=$n validation-fraction=${f:-unset}"
  return 1
}

run() {
  echo "+ $*"
  if [[ -z "${DRY_RUN:-}" ]]; then "$@"; fi
}

mkdir -p "$RUNS_DIR/logs"
# Two grids in one RUNS_DIR would overwrite each other's binaries, manifest
# and runs: hold a lock for the whole grid.
exec 9> "$RUNS_DIR/.lock"
if ! flock -n 9; then
  echo "experiment.sh: another grid is running in $RUNS_DIR; wait for it or" \
       "set RUNS_DIR to another folder" >&2
  exit 1
fi
if [[ -z "${DRY_RUN:-}" ]]; then
  for bin in "$SIM" "$REPORT"; do
    [[ -x "$bin" ]] || { echo "experiment.sh: $bin not built; run scripts/build.sh" >&2; exit 1; }
  done
  # Run the whole grid from a copy of the binaries, so that a rebuild
  # during a long grid cannot mix two versions of the code in one table.
  # fedjets-sim starts the fedjets-coordinator/fedjets-client beside it.
  mkdir -p "$RUNS_DIR/bin"
  for bin in "$SIM" "$(dirname "$SIM")"/fedjets-{coordinator,client} "$REPORT"; do
    cp "$bin" "$RUNS_DIR/bin/"
  done
  SIM="$RUNS_DIR/bin/$(basename "$SIM")"
  REPORT="$RUNS_DIR/bin/$(basename "$REPORT")"
fi

# CODE_REV names the code when it is not this checkout's HEAD.
if [[ -n "${CODE_REV:-}" ]]; then
  commit=$CODE_REV
else
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
fi
manifest="$RUNS_DIR/manifest.txt"
{
  echo "# setting method dir (relative to this file); written by scripts/experiment.sh"
  echo "# code: git $commit; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# ROUNDS=$ROUNDS CNN_ROUNDS=$CNN_ROUNDS EVAL_EVERY=$EVAL_EVERY SEEDS='$SEEDS' CLIENTS=$CLIENTS CLIENTS_PER_ROUND=$CLIENTS_PER_ROUND" \
       "PROCESSES=$PROCESSES MODEL=$MODEL NUM_EXPERTS=$NUM_EXPERTS TOP_K=$TOP_K CACHE=$CACHE" \
       "ANCHOR_SHARE=$ANCHOR_SHARE PROX_MU=$PROX_MU" \
       "VALIDATION_CLIENTS=$VALIDATION_CLIENTS VALIDATION_FRACTION=$VALIDATION_FRACTION" \
       "METHODS='$METHODS' SETTINGS='$(echo $SETTINGS)'" \
       "scripts/experiment.sh $*"
} > "$manifest"

failed=0
for setting in $SETTINGS; do
  setting_flags "$setting" > /dev/null  # an unknown setting stops here
  methods=$METHODS
  [[ $setting == ablation-* ]] && methods=$ABLATION_METHODS
  for method in $methods; do
    runs_as=$(run_setting "$setting" "$method")
    flags=$(setting_flags "$runs_as")
    # FedAvg and FedProx's EM baseline (--serve-label-shift, below) is a
    # row of its own in the report: METHOD+em.
    label=$method
    if [[ $method != fedjets && $runs_as =~ -em(-[0-9]+-rounds)?$ ]]; then
      label="$method+em"
    fi
    for seed in $SEEDS; do
      name="$runs_as/$method-seed$seed"
      dir="$RUNS_DIR/$name"
      if finished "$dir" && [[ -z "${FORCE:-}" ]]; then
        # Its clients held other data: it is not a run of this grid.
        if ! had=$(same_validation "$dir"); then
          echo "experiment.sh: $dir finished with $had (its config.ini)," \
               "not VALIDATION_CLIENTS=$VALIDATION_CLIENTS" \
               "VALIDATION_FRACTION=$VALIDATION_FRACTION; use another" \
               "RUNS_DIR, or FORCE=1 to rerun it" >&2
          exit 1
        fi
        echo "= $dir finished already; skipped (FORCE=1 reruns it)"
        echo "$setting $label $name" >> "$manifest"
        continue
      fi
      if [[ -z "${DRY_RUN:-}" ]]; then
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
      fi
      log="$RUNS_DIR/logs/${runs_as}_$method-seed$seed.log"
      method_flags=""
      [[ $method == fedprox ]] && method_flags="--prox-mu $PROX_MU"
      # FedAvg and FedProx's EM baseline; FedJETs' -em is the expert
      # prior above (its class-prior EM, --serve-label-shift, is not part
      # of any setting: docs/ALGORITHM.md measures it).
      [[ $label == *+em ]] && method_flags="$method_flags --serve-label-shift"
      # shellcheck disable=SC2086  # $flags is a list of words on purpose
      if ! run "$SIM" --algorithm "$method" --clients "$CLIENTS" \
          --clients-per-round "$CLIENTS_PER_ROUND" --seed "$seed" \
          --run-dir "$dir" --processes "$PROCESSES" --baselines \
          --eval-every "$EVAL_EVERY" \
          --common-expert-cache "$CACHE" $flags $method_flags \
          $validation_flags "$@" \
          > >(tee "$log") 2>&1; then
        echo "! $dir failed (log: $log); it will be reported as unfinished" >&2
        failed=$((failed + 1))
      fi
      # A run that wrote no metrics at all cannot be reported, not even as
      # unfinished.
      if [[ -f "$dir/metrics.jsonl" || -n "${DRY_RUN:-}" ]]; then
        echo "$setting $label $name" >> "$manifest"
      else
        echo "! $dir wrote no metrics.jsonl; left out of the report" >&2
      fi
    done
  done
done

run "$REPORT" --out "$OUT" --manifest "$manifest"
echo "experiment.sh: $failed run(s) failed; results in $OUT/RESULTS.md"

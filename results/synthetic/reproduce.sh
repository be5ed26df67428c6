#!/usr/bin/env bash
# Regenerates every file in results/synthetic/ from scratch (issue 7). Run from the repository root
# with the project installed (`pip install -e .`). Every step resumes: run it again after an
# interruption and finished checkpoints, samples and scores are kept.
#
# Wall-clock columns are measured during the runs: run this alone on the machine, or read speed
# from `fada-bench speed` (results/perf/) instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
R=results/synthetic
RUN=runs/results-synthetic          # one run folder for every row: the anchors are scored once
SWEEP=runs/sweep-cfg-synthetic

# 0. Training data: 2000 synthetic clips at 64 px (the tiny recipes' data.folder).
[ -f data/synthetic-train64/manifest.parquet ] ||
  fada-bench data synth --out data/synthetic-train64 --size 64 --n-train 2000 --n-test 0 --n-openset 0

# 1. The VAE and the teacher, trained here, so that every row below distils from this teacher
#    (without these two lines the sweeps use the shipped teacher, as the committed rows did).
fada-bench train vae_tiny
fada-bench train teacher_tiny

# 1b. Tables 2-4: each row's checkpoint is trained first when missing (with its recipe, after the
#    checkpoints it starts from), then every row is generated and scored on the 100 test clips.
for t in 2 3 4; do
  fada-bench sweep "table$t" --suite synthetic --out "$RUN" --target-cache runs/teacher-targets
done

# 2. Table 1's FADA rows, the teacher and the anchors in the same folder (finished samples are
#    kept), so that one summary holds every method.
ALL=teacher,teacher_b,tcd,rflow,perflow,student_b_fixed0,fixed_0p2,fixed_1p0,fixed_0p2_only_a
ALL=$ALL,adaptive_unl_0p5,adaptive_unl_0p25,adaptive_0p5,fada_balanced,no_cfg_distill,cfg_time_embed
ALL=$ALL,cfg_layer,fada_fast,fada_4,rflow_v,static,vae_roundtrip,ground_truth
fada-bench run --methods "$ALL" --suite synthetic --out "$RUN"

# 2b. Keep the scored rows in git (summary, per-sample values, identity with every hash), so the
#     tables and claims outlive runs/; then R per tier and defect over 160 training clips.
fada-bench rows save "$RUN" --out "$R/rows" --training-logs runs
OMP_NUM_THREADS=1 fada-bench ratio-probe fada_balanced_tiny --clips 160 --out "$R/ratio_probe.csv"

# 3. The four tables, beside the paper's numbers, from the rows alone.
for t in 1 2 3 4; do
  fada-bench table --paper "$t" "$R/rows" > "$R/table$t.md"
done

# 4. Figures 3-4: FADA-Fast's guidance scales swept (FVD and Sync-D with 95% CIs).
fada-bench sweep cfg --method fada_fast --suite synthetic --out "$SWEEP"
cp "$SWEEP"/figure3_cfg_a.png "$SWEEP"/figure3_cfg_a.svg "$SWEEP"/figure4_cfg_r.png "$SWEEP"/figure4_cfg_r.svg \
   "$SWEEP"/sweep.csv "$R/"

# 5. What a fresh checkout gets: the shipped (float16) teacher, FADA-Balanced and FADA-Fast on the
#    same 100 clips (an empty FADA_BENCH_CHECKPOINTS folder makes the cards use the shipped weights
#    rather than the float32 ones trained above), Table 1 of that run, and its HTML report (summary
#    with CIs, figures, sample videos beside the ground truth).
SHIPPED=runs/results-shipped
FADA_BENCH_CHECKPOINTS=/tmp/empty-ckpts fada-bench run \
  --methods teacher,fada_balanced,fada_fast,static,vae_roundtrip,ground_truth --suite synthetic --out "$SHIPPED"
fada-bench table --paper 1 "$SHIPPED" > "$R/table1_shipped.md"
fada-bench report "$SHIPPED"
cp "$SHIPPED/report.html" "$R/report.html"

# 6. Each claim with our numbers, the paper's and a verdict (notes under "## Notes" are kept).
fada-bench claims "$R/rows" --sweep "$SWEEP" --ratio-probe "$R/rows/fada_balanced" --out "$R/CLAIMS.md"

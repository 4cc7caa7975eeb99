#!/usr/bin/env bash
# Train both diffusion priors at full scale on one accelerator, export them in the shipped format
# and compare their reconstructions with the shipped priors' (issue 15, item 5).
#
#   experiments/train_on_accelerator.sh [--out DIR] [--minutes 10] [--wheelhouse DIR]
#                                       [--tiny] [--no-eval] [--eval-test N]
#
# 1. Environment: with --wheelhouse, every missing package is installed from that folder of
#    wheels without the network (make it elsewhere with `pip download -d DIR "jax[cuda12]"
#    nilearn nibabel dipy ...`); on a machine with `nvidia-smi` whose JAX has no GPU backend,
#    the CUDA JAX wheel is installed (`jax[cuda12]`); the project runs from this checkout
#    (PYTHONPATH), not installed; nibabel + nilearn are needed for the MRI training data.
# 2. Training: experiments/accelerator_run.py per prior (probe the step time, plan the steps and
#    the cosine decay to end inside --minutes, train, export to OUT/weights/<name>, held-out
#    denoising table), configs experiments/configs/accelerator/{ct-ellipses,mri-brain}.json
#    (--tiny: the 32x32 test configs tiny-{ct,mri}.json, for a CPU check of the whole path).
# 3. Evaluation: experiments/eval_diffusion.py on the same protocol with the shipped weights and
#    with RECON_WEIGHTS_DIR=OUT/weights (dival ellipses CT; MRI on dipy's real slices when dipy is
#    installed, else on the held-out MNI template band), then OUT/report.md with both tables.
#    Ship the new weights (copy OUT/weights/<name> to models/weights/<name>) only where the
#    reconstruction PSNR improves.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/accelerator}
MINUTES=10
WHEELHOUSE=""
TINY=0
EVAL=1
EVAL_TEST=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --minutes) MINUTES=$2; shift 2 ;;
    --wheelhouse) WHEELHOUSE=$2; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --no-eval) EVAL=0; shift ;;
    --eval-test) EVAL_TEST=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "train_on_accelerator.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python}
PIP=("$PY" -m pip install -q)
[[ -n $WHEELHOUSE ]] && PIP+=(--no-index --find-links "$WHEELHOUSE")

# ---- 1. environment
if command -v nvidia-smi >/dev/null 2>&1 &&
   ! "$PY" -c 'import jax, sys; sys.exit(jax.default_backend() != "gpu")' 2>/dev/null; then
  echo "installing the CUDA JAX wheel" >&2
  "${PIP[@]}" -U "jax[cuda12]"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # models/, recon/, experiments/ from here
for pkg in flax optax orbax.checkpoint h5py scipy skimage nibabel nilearn dipy; do
  if ! "$PY" -c "import $pkg" 2>/dev/null && [[ -n $WHEELHOUSE ]]; then
    wheel=${pkg/orbax.checkpoint/orbax-checkpoint}; wheel=${wheel/skimage/scikit-image}
    "${PIP[@]}" "$wheel" || echo "$wheel not installable from $WHEELHOUSE" >&2
  fi
done
"$PY" -c 'import jax; print("devices:", jax.devices())'

# ---- 2. training
if [[ $TINY == 1 ]]; then
  CONFIGS=(experiments/configs/accelerator/tiny-ct.json experiments/configs/accelerator/tiny-mri.json)
  PROBE=3; EVAL_TEST=${EVAL_TEST:-1}; NFE=2; RUNS=2x2
else
  CONFIGS=(experiments/configs/accelerator/ct-ellipses.json experiments/configs/accelerator/mri-brain.json)
  PROBE=20; EVAL_TEST=${EVAL_TEST:-16}; NFE=10; RUNS=25x2
fi
mkdir -p "$OUT"
for cfg in "${CONFIGS[@]}"; do
  "$PY" -m experiments.accelerator_run --config "$cfg" --minutes "$MINUTES" --out "$OUT" \
    --probe-steps "$PROBE" | tee -a "$OUT/train.log"
done
[[ $EVAL == 1 ]] || exit 0

# ---- 3. evaluation: shipped weights, then the new ones, same protocol and seeds
MRI_DATA=template
"$PY" -c 'import dipy' 2>/dev/null && MRI_DATA=real
MRI_TEST=$(( EVAL_TEST < 5 ? EVAL_TEST : 5 ))
for which in shipped new; do
  dir="$OUT/eval/$which"
  env_weights=()
  [[ $which == new ]] && env_weights=(RECON_WEIGHTS_DIR="$OUT/weights")
  env "${env_weights[@]}" "$PY" -m experiments.eval_diffusion ct --test "$EVAL_TEST" \
    --nfe "$NFE" --runs "$RUNS" --out "$dir"
  env "${env_weights[@]}" "$PY" -m experiments.eval_diffusion mri --data "$MRI_DATA" \
    --test "$MRI_TEST" --nfe "$NFE" --runs "$RUNS" --out "$dir"
done
"$PY" - "$OUT" <<'PYEOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
lines = ["| modality | accel | method | PSNR shipped | PSNR new | SSIM shipped | SSIM new |",
         "|---|---|---|---:|---:|---:|---:|"]
for mod in ("ct", "mri"):
    rows = {w: json.loads((out / "eval" / w / f"eval_{mod}_dds.json").read_text())["rows"]
            for w in ("shipped", "new")}
    for a, b in zip(rows["shipped"], rows["new"]):
        lines.append(f"| {mod} | {a.get('accel', '')} | {a['method']} | {a['PSNR']:.2f} | "
                     f"{b['PSNR']:.2f} | {a['SSIM']:.3f} | {b['SSIM']:.3f} |")
(out / "report.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF

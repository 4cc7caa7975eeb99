"""``recon mri IN1.h5 IN2.h5 ... --out-dir DIR`` (or a folder): many files, one process.

Each input goes through the one path of ``recon mri`` (``load_raw`` -> ``reconstruct_raw``), in
order, in this process, so inputs of equal shapes share the compiled solver (the jit cache of
:mod:`recon.classical_mri` and JAX's, keyed by method, options and shapes): one compile for a
data set. Slices of each file are batched across all local devices by the existing
``jax.sharding`` path (:mod:`recon.parallel`). An input whose output ``DIR/<stem>.h5`` exists is
skipped, so a crashed run resumes where it stopped (outputs are written atomically, so an
existing one is complete). An input refused as bad input is reported and the others go on; the
summary lists done / skipped / failed with times, and the exit status is 2 when any failed.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Callable

from recon.errors import UserError


def expand_inputs(names: list[str]) -> list[pathlib.Path]:
    """Files as given; a folder stands for its ``*.h5`` files, sorted."""
    out: list[pathlib.Path] = []
    for name in names:
        p = pathlib.Path(name)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix == ".h5" and q.is_file())
            if not found:
                raise UserError(f"{p}: a folder without .h5 files")
            out += found
        else:
            out.append(p)
    return out


def run_many(args: argparse.Namespace, inputs: list[pathlib.Path],
             run_one: Callable[[argparse.Namespace, pathlib.Path, pathlib.Path], int]) -> int:
    """See the module docstring."""
    from recon import console

    if args.out_dir is None:
        raise UserError("several inputs need --out-dir DIR (one output file per input)")
    if args.out is not None:
        raise UserError("--out names one output file; with several inputs use --out-dir only")
    out_dir = pathlib.Path(args.out_dir)
    if not out_dir.is_dir():
        raise UserError(f"--out-dir {out_dir}: not a directory")
    stems = [p.stem for p in inputs]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise UserError(f"inputs share the output name {dup[0]}.h5 in {out_dir}; give them "
                        "different file names")
    done, skipped, failed = [], [], []
    t_all = time.perf_counter()
    for src in inputs:
        out = out_dir / f"{src.stem}.h5"
        if out.exists():
            skipped.append(src)
            console.status(f"recon mri: {out} exists, {src} skipped")
            continue
        t0 = time.perf_counter()
        try:
            run_one(args, src, out)
        except UserError as err:
            failed.append((src, str(err)))
            print(f"recon mri: error: {err}", file=sys.stderr, flush=True)
            continue
        done.append((src, time.perf_counter() - t0))
    total = time.perf_counter() - t_all
    times = ", ".join(f"{s.name} {t:.2f} s" for s, t in done)
    console.status(f"recon mri: {len(done)} reconstructed, {len(skipped)} skipped (output "
                   f"exists), {len(failed)} failed, {total:.2f} s in all"
                   + (f" ({times})" if times else ""))
    for _src, err in failed:
        print(f"recon mri: failed: {err}", file=sys.stderr, flush=True)
    return 2 if failed else 0

"""``recon demo``: the offline demonstration (see :mod:`recon.demo` for what it simulates).

Reconstructs a 4x-undersampled 8-coil brain slice and a 30-view CT slice with the baseline, the
best classical method and diffusion (DDS with posterior samples); prints a table (PSNR, SSIM,
NMSE, seconds) and writes ``demo.png`` (truth, each method, error maps, posterior standard
deviation), ``demo.html`` (self-contained report) and ``demo.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import pathlib
import time

from recon.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the offline demonstration (MRI 4x and CT 30 views)",
        description="Offline demonstration on data shipped with (or made by) the project: "
        "classical and diffusion reconstruction of an MRI and a CT slice, with a figure and an "
        "HTML report.",
    )
    p.add_argument("--out", default="recon-demo",
                   help="output directory (default ./recon-demo)")
    p.add_argument("--nfe", type=int, default=30,
                   help="network evaluations per diffusion sample (default 30)")
    p.add_argument("--samples", type=int, default=4,
                   help="posterior samples for the uncertainty map (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--only", choices=("mri", "ct"), default=None,
                   help="run one of the two problems only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.nfe < 1 or args.samples < 1:
        raise UserError(f"--nfe and --samples must be >= 1, got {args.nfe} and {args.samples}")
    from recon.io.output_path import check_output_dir

    check_output_dir(args.out)
    from recon import demo
    from recon.report import text_table, write_report

    t0 = time.perf_counter()
    cases = {"mri": demo.mri_case, "ct": demo.ct_case}
    sections = []
    for name, case in cases.items():
        if args.only not in (None, name):
            continue
        print(f"recon demo: {name.upper()} ...", flush=True)
        try:
            section = case(nfe=args.nfe, n_samples=args.samples, seed=args.seed)
        except FileNotFoundError as err:
            raise UserError(str(err)) from None
        print(section.title)
        print(text_table(section.rows), flush=True)
        sections.append(section)
    seconds = time.perf_counter() - t0
    footer = (f"recon demo --out {args.out} --nfe {args.nfe} --samples {args.samples} "
              f"--seed {args.seed}: {seconds:.0f} s in total")
    paths = write_report(pathlib.Path(args.out), "demo", "recon demo", sections, footer)
    from recon import console

    console.status(f"wrote {', '.join(str(p) for p in paths.values())} ({seconds:.0f} s)")
    return 0

"""``recon bench SUITE``: time the engine against its peers side by side (see BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import importlib

from recon.benchmarks import SUITES
from recon.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark operators and solvers against their peers",
        description="Times the engine and its peers in one process, taking turns, and reports "
        "medians and ratios. Suites: " + ", ".join(sorted(SUITES)),
    )
    p.add_argument("suite", help=f"which suite: {', '.join(sorted(SUITES))}")
    p.add_argument("--quick", action="store_true", help="small sizes and few rounds (smoke test)")
    p.add_argument("--json", default=None, help="JSON output path (default: bench-SUITE.json)")
    p.add_argument(
        "--markdown", default=None, help="markdown file whose suite section is replaced, "
        "e.g. BENCHMARKS.md (default: none)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.suite not in SUITES:
        raise UserError(f"unknown suite {args.suite!r}; choose one of {', '.join(sorted(SUITES))}")
    module = importlib.import_module(f"recon.benchmarks.{SUITES[args.suite]}")
    comparisons = module.run(quick=args.quick)
    from recon.benchmarks.harness import markdown_table, write_results

    print(markdown_table(comparisons))
    write_results(args.suite, comparisons, args.json or f"bench-{args.suite}.json", args.markdown)
    return 0

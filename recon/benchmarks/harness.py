"""Timing harness: engine and peers in one process, taking turns, medians and ratios.

Each case is a zero-argument callable that runs the work *and blocks until it is done*
(``jax.block_until_ready`` for JAX results). All cases of a comparison are warmed up (jit compile
excluded), then timed round by round; the order rotates every round so that no case always runs
first or last. The statistic is the median over rounds; ratios are medians divided by the median
of the reference case.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class Comparison:
    """One benchmark: several cases doing the same work, and which one the ratios refer to."""

    title: str
    reference: str
    times: dict[str, list[float]]
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, name: str) -> float:
        return self.median(name) / self.median(self.reference)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "reference": self.reference,
            "cases": {
                name: {
                    "median_s": self.median(name),
                    "ratio_to_reference": self.ratio(name),
                    "rounds_s": ts,
                    "note": self.notes.get(name, ""),
                }
                for name, ts in self.times.items()
            },
            "extra": self.extra,
        }


def compare(
    title: str,
    cases: dict[str, Callable[[], Any]],
    reference: str,
    rounds: int = 7,
    warmup: int = 1,
    notes: dict[str, str] | None = None,
) -> Comparison:
    """Time ``cases`` in turns; return a :class:`Comparison` with per-round wall times."""
    if reference not in cases:
        raise ValueError(f"reference {reference!r} is not one of {sorted(cases)}")
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
    return Comparison(title, reference, times, notes or {})


def machine_description() -> str:
    """One line naming the CPU, core count and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import jax
    import numpy

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"jax {jax.__version__} ({jax.default_backend()}), numpy {numpy.__version__}"
    )


def markdown_table(comparisons: Sequence[Comparison]) -> str:
    lines = []
    for c in comparisons:
        lines.append(f"**{c.title}** (reference: {c.reference})\n")
        lines.append("| case | median | ratio | note |")
        lines.append("|---|---:|---:|---|")
        for name in c.times:
            lines.append(
                f"| {name} | {c.median(name) * 1e3:.2f} ms | {c.ratio(name):.2f}x | "
                f"{c.notes.get(name, '')} |"
            )
        for key, value in c.extra.items():
            lines.append(f"\n{key}: {value}")
        lines.append("")
    return "\n".join(lines)


def write_results(
    suite: str,
    comparisons: Sequence[Comparison],
    json_path: str | os.PathLike,
    markdown_path: str | os.PathLike | None = None,
    heading: str | None = None,
) -> None:
    """Write the JSON results and replace the suite's section of the markdown file.

    The section is delimited by ``<!-- bench:SUITE -->`` and ``<!-- /bench:SUITE -->`` and is
    appended if absent; its heading is ``heading`` (default: the ``recon bench SUITE``
    command). Both files are written to a temporary name and renamed.
    """
    machine = machine_description()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    payload = {
        "suite": suite,
        "machine": machine,
        "date": stamp,
        "comparisons": [c.to_json() for c in comparisons],
    }
    _atomic_write(Path(json_path), json.dumps(payload, indent=2))
    if markdown_path is None:
        return
    md_path = Path(markdown_path)
    text = md_path.read_text() if md_path.exists() else "# Benchmarks\n"
    start, end = f"<!-- bench:{suite} -->", f"<!-- /bench:{suite} -->"
    body = (
        f"{start}\n### {heading or f'`recon bench {suite}`'}\n\n"
        f"Machine: {machine}. Run: {stamp}.\n\n"
        f"{markdown_table(comparisons)}\n{end}"
    )
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text + "\n" + body + "\n"
    _atomic_write(md_path, text)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)

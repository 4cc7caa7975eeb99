"""Figures, tables and self-contained HTML reports (demo and evaluation).

A report is a list of sections, each with a title, a table (list of dict rows), PNG figures
(embedded as base64, so the HTML file stands alone) and free text such as the exact commands to
reproduce it. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from recon import interrupts


@dataclasses.dataclass
class Section:
    title: str
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    figures: list[bytes] = dataclasses.field(default_factory=list)  # PNG bytes
    text: list[str] = dataclasses.field(default_factory=list)


def format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3f}"
    return str(value)


def text_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as an aligned plain-text table (for the terminal)."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[format_value(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = "  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def image_grid(
    panels: Sequence[tuple[str, np.ndarray]],
    columns: int,
    vmax: float | None = None,
    cmaps: Sequence[str] | None = None,
) -> bytes:
    """PNG bytes of titled image panels in a grid (``cmaps`` per panel, default gray)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (title, img) in enumerate(panels):
        ax = axes.ravel()[i]
        cmap = cmaps[i] if cmaps else "gray"
        top = vmax if (vmax is not None and cmap == "gray") else float(np.percentile(img, 99.5))
        ax.imshow(np.asarray(img), cmap=cmap, vmin=0.0, vmax=max(top, 1e-12))
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _html_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_value(r.get(k, '')))}</td>" for k in keys)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(title: str, sections: Sequence[Section], footer: str = "") -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px;"
        "text-align:right}img{max-width:100%}pre{background:#eee;padding:6px}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        parts.append(_html_table(s.rows))
        for png in s.figures:
            data = base64.b64encode(png).decode()
            parts.append(f"<p><img src='data:image/png;base64,{data}'></p>")
        for t in s.text:
            parts.append(f"<pre>{html.escape(t)}</pre>")
    parts.append(f"<p>{html.escape(footer)}</p></body></html>")
    return "\n".join(parts)


def atomic_write(path: pathlib.Path, data: bytes | str) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data)
        else:
            tmp.write_bytes(data)
        interrupts.commit()  # the first file of a report is the command's point of no return
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report(
    out_dir: pathlib.Path, name: str, title: str, sections: Sequence[Section], footer: str = ""
) -> dict[str, pathlib.Path]:
    """Write ``NAME.html`` (self-contained), ``NAME.json`` (tables) and ``NAME.png`` (the
    first figure) into ``out_dir``; return their paths."""
    out_dir = pathlib.Path(out_dir)
    paths = {
        "html": out_dir / f"{name}.html",
        "json": out_dir / f"{name}.json",
    }
    atomic_write(paths["html"], render_html(title, sections, footer))
    atomic_write(paths["json"], json.dumps(
        {s.title: s.rows for s in sections}, indent=2, default=format_value
    ))
    figures = [f for s in sections for f in s.figures]
    for i, png in enumerate(figures):
        key = "png" if i == 0 else f"png{i}"
        paths[key] = out_dir / (f"{name}.png" if i == 0 else f"{name}_{i}.png")
        atomic_write(paths[key], png)
    return paths

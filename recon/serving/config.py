"""MRD configuration messages -> the ``argparse.Namespace`` of ``recon mri``.

The MRD protocol (python-ismrmrd-server, Gadgetron) starts a session with CONFIG_FILE (id 1,
a 1024-byte null-padded name) or CONFIG_TEXT (id 2, length-prefixed text). Here the CONFIG_FILE
name is a ``recon mri --method`` name (``zero-filled``, ``cg-sense``, ``l1-wavelet``, ``tv``,
``dds``, ``dps``, ``score-mri``), or ``default`` for the server's method; CONFIG_TEXT is a JSON
object with the long option names of ``recon mri`` (``{"method": "dds", "nfe": 25}``; dashes or
underscores). The options are parsed by the ``recon mri`` parser itself, so types, choices and
defaults are those of the command line, then checked by
:func:`recon.mri_reconstruction.check_options`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json

from recon.errors import UserError

#: options of ``recon mri`` that make no sense for a stream (file names, output layout)
NOT_FOR_STREAMS = ("input", "out", "format", "func", "dicom", "out_dir")


def _mri_parser() -> argparse.ArgumentParser:
    from recon.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["mri"]


def options(method: str, text: dict | None = None, base: dict | None = None
            ) -> argparse.Namespace:
    """The ``recon mri`` options for a session: parser defaults, then ``base`` (the server's own
    options), then ``method`` and the CONFIG_TEXT keys ``text``. Unknown names or bad values
    raise :class:`UserError` with one line."""
    from recon.cli_options import DIFFUSION_METHODS, METHODS
    from recon.mri_reconstruction import check_options

    parser = _mri_parser()
    dests = {a.dest: a for a in parser._actions if a.option_strings}
    argv = ["-", "--out", "-"]
    merged = dict(base or {})
    merged.update({k.replace("-", "_"): v for k, v in (text or {}).items()})
    if method != "default":
        merged["method"] = method
    if merged.get("method", "l1-wavelet") not in METHODS + DIFFUSION_METHODS:
        raise UserError(f"config: unknown method {merged['method']!r} (expected one of "
                        f"{', '.join(METHODS + DIFFUSION_METHODS)})")
    for key, value in merged.items():
        if key in NOT_FOR_STREAMS or key not in dests:
            raise UserError(f"config: unknown option {key!r} (expected recon mri options such "
                            "as method, lam, iters, nfe, samples, seed, coils)")
        if value is None:
            continue
        flag = dests[key].option_strings[-1]
        if isinstance(value, bool):
            if value:
                argv.append(flag)
            continue
        argv += [flag, str(value)]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit:
        last = err.getvalue().strip().splitlines()[-1:] or ["invalid options"]
        raise UserError(f"config: {last[0].split('error: ')[-1]}") from None
    args.quiet = True
    args.verbose = 0
    check_options(args)
    return args


def parse_config_text(text: str) -> dict:
    """CONFIG_TEXT as a JSON object (an empty text is no options)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"config text: not JSON ({err.msg} at line {err.lineno} column "
                        f"{err.colno}); expected an object such as {{\"method\": \"cg-sense\"}}"
                        ) from None
    if not isinstance(value, dict):
        raise UserError(f"config text: expected a JSON object, found {type(value).__name__}")
    return value

"""The fields of the ISMRMRD XML header that a 2-D Cartesian reconstruction needs, checked.

The header follows ``ismrmrd.xsd`` (https://ismrmrd.readthedocs.io, "ISMRMRD header"): one or
more ``<encoding>`` elements, each with ``<encodedSpace>`` and ``<reconSpace>`` (``<matrixSize>``
``x``, ``y``, ``z``; ``<fieldOfView_mm>``), ``<encodingLimits>`` (``kspace_encoding_step_1``,
``slice``, ``average``, ``repetition``, ... each with ``minimum``, ``maximum``, ``center``) and
``<trajectory>``; ``<acquisitionSystemInformation>`` gives ``<receiverChannels>``.

The few fields used here are read with the standard library's ElementTree, so that every
problem is reported in the header's own words (``<encoding>/<reconSpace>/<matrixSize>/<y>``,
expected, found) and no Python class or enum name reaches the user.

Checks (:func:`read_header`):

- the XML is well formed and its root is ``<ismrmrdHeader>``;
- one ``<encoding>``, or the one chosen with ``encoding`` (``recon mri --encoding N``); several
  without a choice are refused, because each is a separate image;
- ``<trajectory>`` is ``cartesian`` and ``encodedSpace`` ``z`` is 1 (2-D);
- the readout oversampling ``encodedSpace x / reconSpace x`` is a whole number (the crop of the
  readout field of view must fall on the grid).
"""

from __future__ import annotations

import dataclasses
import pathlib
import xml.etree.ElementTree as ET

from recon.errors import UserError

#: the encodingLimits counters, by their ISMRMRD names
LIMITS = ("kspace_encoding_step_1", "kspace_encoding_step_2", "average", "slice", "contrast",
          "phase", "repetition", "set", "segment")


@dataclasses.dataclass(frozen=True)
class Limit:
    minimum: int
    maximum: int
    center: int


@dataclasses.dataclass(frozen=True)
class Header:
    """The checked fields of one encoding (see the module docstring)."""

    encoding: int  # index of the encoding used
    n_encodings: int
    encoded: tuple[int, int, int]  # encodedSpace matrixSize x, y, z
    recon: tuple[int, int, int]  # reconSpace matrixSize x, y, z
    trajectory: str
    limits: dict[str, Limit]
    receiver_channels: int | None

    @property
    def oversampling(self) -> int:
        """Readout oversampling factor ``encodedSpace x / reconSpace x`` (checked integer)."""
        return self.encoded[0] // self.recon[0]

    @property
    def pe_centre(self) -> int:
        """k-space centre line (``kspace_encoding_step_1`` ``center``, else ``y // 2``)."""
        lim = self.limits.get("kspace_encoding_step_1")
        return lim.center if lim is not None else self.encoded[1] // 2


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next((c for c in el if _local(c.tag) == name), None)


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


class _Fields:
    """Reads elements by path below one element, failing in the header's words."""

    def __init__(self, path: pathlib.Path, root: ET.Element, prefix: str):
        self.path, self.root, self.prefix = path, root, prefix

    def fail(self, message: str) -> UserError:
        return UserError(f"{self.path}: ISMRMRD header: {message}")

    def find(self, *names: str) -> ET.Element | None:
        el: ET.Element | None = self.root
        for n in names:
            el = _child(el, n)
        return el

    def where(self, *names: str) -> str:
        return "/".join(f"<{n}>" for n in (self.prefix, *names) if n)

    def integer(self, *names: str, required: bool = True, positive: bool = False,
                default: int | None = None) -> int | None:
        el = self.find(*names)
        if el is None or el.text is None or not el.text.strip():
            if required:
                raise self.fail(f"{self.where(*names)} is missing")
            return default
        text = el.text.strip()
        try:
            value = int(text)
        except ValueError:
            raise self.fail(f"{self.where(*names)} must be a whole number, found "
                            f"'{text[:40]}'") from None
        if positive and value < 1:
            raise self.fail(f"{self.where(*names)} must be at least 1, found {value}")
        return value


def read_header(path: pathlib.Path, xml: str, encoding: int | None = None) -> Header:
    """Parse and check the header (module docstring); ``encoding`` picks one of several."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise UserError(f"{path}: ISMRMRD header is not well-formed XML ({err})") from None
    if _local(root.tag) != "ismrmrdHeader":
        raise UserError(f"{path}: ISMRMRD header: the root element must be <ismrmrdHeader>, "
                        f"found <{_local(root.tag)}>")
    encodings = _children(root, "encoding")
    if not encodings:
        raise UserError(f"{path}: ISMRMRD header: no <encoding> element")
    n = len(encodings)
    if encoding is None:
        if n > 1:
            raise UserError(f"{path}: ISMRMRD header has {n} <encoding> elements (separate "
                            f"images); choose one with --encoding 0..{n - 1}")
        encoding = 0
    elif not 0 <= encoding < n:
        raise UserError(f"{path}: --encoding {encoding} does not exist: the ISMRMRD header has "
                        f"{n} <encoding> element{'s' if n > 1 else ''} (0..{n - 1})")
    f = _Fields(path, encodings[encoding], "encoding")
    for space in ("encodedSpace", "reconSpace"):
        if f.find(space) is None:
            raise f.fail(f"{f.where(space)} is missing")
    encoded = tuple(f.integer("encodedSpace", "matrixSize", a, positive=True,
                              required=a != "z", default=1) for a in "xyz")
    recon = tuple(f.integer("reconSpace", "matrixSize", a, positive=True,
                            required=a != "z", default=1) for a in "xyz")
    traj_el = f.find("trajectory")
    trajectory = (traj_el.text or "").strip() if traj_el is not None else ""
    if not trajectory:
        raise f.fail(f"{f.where('trajectory')} is missing")
    limits = {}
    for name in LIMITS:
        if f.find("encodingLimits", name) is None:
            continue
        vals = [f.integer("encodingLimits", name, k, required=False) for k in
                ("minimum", "maximum", "center")]
        lo = 0 if vals[0] is None else vals[0]
        hi = lo if vals[1] is None else vals[1]
        centre = (lo + hi + 1) // 2 if vals[2] is None else vals[2]
        if hi < lo:
            raise f.fail(f"{f.where('encodingLimits', name)} has maximum {hi} below its "
                         f"minimum {lo}")
        limits[name] = Limit(lo, hi, centre)
    top = _Fields(path, root, "")
    channels = top.integer("acquisitionSystemInformation", "receiverChannels", required=False,
                           positive=True)
    hdr = Header(encoding, n, encoded, recon, trajectory, limits, channels)
    _check(f, hdr)
    return hdr


def _check(f: _Fields, hdr: Header) -> None:
    if hdr.trajectory.lower() != "cartesian":
        raise f.fail(f"{f.where('trajectory')} is '{hdr.trajectory}'; only cartesian "
                     "trajectories are supported")
    if hdr.encoded[2] != 1:
        raise f.fail(f"{f.where('encodedSpace', 'matrixSize', 'z')} is {hdr.encoded[2]} (a 3-D "
                     "encoding); only 2-D (z = 1) is supported")
    ex, rx = hdr.encoded[0], hdr.recon[0]
    if ex % rx:
        raise f.fail(f"readout oversampling {f.where('encodedSpace', 'matrixSize', 'x')} / "
                     f"{f.where('reconSpace', 'matrixSize', 'x')} = {ex} / {rx} is not a whole "
                     "number; expected reconSpace x to divide encodedSpace x (e.g. 256 / 128)")

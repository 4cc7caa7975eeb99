"""``recon send``: stream an ISMRMRD HDF5 file to an MRD server and keep the images it returns.

Messages sent, in order (:mod:`recon.serving.server`): CONFIG_FILE (the method name), CONFIG_TEXT
(JSON options, if any), HEADER (the file's XML), every acquisition in file order, CLOSE. The
server's IMAGE messages are collected until its CLOSE; a TEXT line starting with ``error:`` is
the server refusing the stream. Images are written as MRD images (``ismrmrd.Dataset``
``append_image``) under ``/dataset/images_<series>``, to a temporary file renamed at the end.
"""

from __future__ import annotations

import os
import pathlib
import socket
import tempfile

from recon.errors import UserError


def read_stream(path: pathlib.Path) -> tuple[str, list]:
    """The XML header and acquisitions of an ISMRMRD file (refused with one line otherwise)."""
    import ismrmrd

    from recon.io.ismrmrd import is_ismrmrd

    if not is_ismrmrd(path):
        raise UserError(f"{path}: not an ISMRMRD file (no /dataset group with xml and data)")
    ds = ismrmrd.Dataset(str(path), "dataset", create_if_needed=False)
    try:
        xml = ds.read_xml_header()
        xml = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else str(xml)
        acqs = [ds.read_acquisition(i) for i in range(ds.number_of_acquisitions())]
    except Exception as err:  # h5py and ismrmrd raise many types
        raise UserError(f"{path}: cannot read the ISMRMRD acquisitions ({err})") from None
    finally:
        ds.close()
    return xml, acqs


def send(xml: str, acquisitions, host: str, port: int, config: str = "default",
         config_text: str | None = None, timeout: float = 600.0,
         on_sent=None) -> tuple[list, list[str]]:
    """Stream one session; return the images received and the TEXT messages.
    ``on_sent(i, t)`` is called after acquisition ``i`` was written (benchmarks)."""
    import time

    import ismrmrd
    from ismrmrd.serialization import (
        ConfigFile,
        ConfigText,
        ProtocolDeserializer,
        ProtocolSerializer,
    )
    from ismrmrd.xsd import CreateFromDocument

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as err:
        raise UserError(f"cannot connect to {host}:{port}: {err.strerror or err}") from None
    images, texts = [], []
    with sock:
        wfile = sock.makefile("wb")
        out = ProtocolSerializer(wfile)
        out.serialize(ConfigFile(config))
        if config_text:
            out.serialize(ConfigText(config_text))
        out.serialize(CreateFromDocument(xml))
        for i, acq in enumerate(acquisitions):
            out.serialize(acq)
            if on_sent is not None:
                wfile.flush()
                on_sent(i, time.perf_counter())
        out.close()
        wfile.flush()
        reader = ProtocolDeserializer(sock.makefile("rb"))
        try:
            for msg in reader.deserialize():
                if isinstance(msg, ismrmrd.Image):
                    images.append(msg)
                elif isinstance(msg, str):
                    texts.append(str(msg))
        except EOFError:
            texts.append("error: the server closed the connection without CLOSE")
    return images, texts


def write_images(out: pathlib.Path, images: list) -> None:
    """MRD images to ``out`` (``/dataset/images_<image_series_index>``), atomically."""
    import ismrmrd

    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        ds = ismrmrd.Dataset(tmp, "dataset", create_if_needed=True)
        for img in images:
            ds.append_image(f"images_{img.image_series_index}", img)
        ds.close()
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

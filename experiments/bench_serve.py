"""``recon serve`` latency and memory: streamed slices against ``recon mri`` on the same file.

Data: a synthetic 2-D multi-slice ISMRMRD scan written as a scanner would (noise scan, 2x
readout oversampling, 24 ACS lines, every 2nd phase-encode line, ``ACQ_LAST_IN_SLICE`` on each
slice's last readout): ``--slices`` x ``--coils`` coils x (2 x ``--size``) x ``--size``.

1. ``recon mri --method cg-sense`` per-slice time: the reconstruction of the whole file in this
   process (read + ``reconstruct_raw``), after one warm-up run (compilation), divided by the
   number of slices; median of ``--rounds`` runs.
2. Server latency: a ``recon serve`` (:class:`recon.serving.server.ReconServer`, 1 worker) in
   this process on 127.0.0.1 and its client (:func:`recon.serving.client.send`); per slice the
   server's ``LatencySeconds`` (from the slice's last acquisition arriving to its image being
   sent: assembly, prewhitening, reconstruction, encoding). One warm-up session, then the median
   over ``--rounds`` sessions x slices, in two modes: *paced*, the client waits ``--pace``
   seconds after each slice's last acquisition as a scanner does between slices (default 1 s:
   a slice of 76 lines at TR 13 ms), and *burst*, the whole file sent as fast as loopback
   allows, so later slices also wait in the queue behind earlier ones. Ratio = paced latency /
   per-slice time (target <= 1.2); the burst ratio is reported beside it.
3. Memory: ``--sessions`` consecutive sessions, zero-filled and cg-sense in turn, on one
   server; resident set size (``/proc/self/status`` VmRSS, the server and client share the
   process) 0.5 s after each; growth = (last - first) / first and (max - first) / first
   (target < 5 %).

    nice -n 2 python -m experiments.bench_serve --json experiments/bench_serve.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import tempfile
import threading
import time


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_scan(path: pathlib.Path, slices: int, coils: int, size: int) -> None:
    import numpy as np

    from recon.io.ismrmrd import header_xml
    from tests import ismrmrd_files

    rng = np.random.default_rng(0)
    ro, pe = 2 * size, size
    readouts = [{"data": (rng.standard_normal((coils, 512))
                          + 1j * rng.standard_normal((coils, 512))) * 1e-3, "flags": [19]}]
    acs = set(range(pe // 2 - 12, pe // 2 + 12))
    for s in range(slices):
        k = ismrmrd_files.random_kspace(coils, ro, pe, seed=s)
        lines = [ln for ln in range(pe) if ln % 2 == 0 or ln in acs]
        for n, ln in enumerate(lines):
            flags = [21] if (ln % 2 == 0 and ln in acs) else ([20] if ln in acs else [])
            if n == len(lines) - 1:
                flags.append(8)
            readouts.append({"data": k[:, :, ln], "line": ln, "slice": s, "flags": flags})
    ismrmrd_files.write(path, header_xml(ro, pe, slices, coils, oversampling=2), readouts)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--slices", type=int, default=4)
    p.add_argument("--coils", type=int, default=8)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--pace", type=float, default=1.0,
                   help="seconds between slices in the paced mode (default 1)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)

    import argparse as ap

    import ismrmrd

    from recon.mri_reconstruction import load_raw, reconstruct_raw
    from recon.serving.client import read_stream, send
    from recon.serving.config import options
    from recon.serving.images import image_meta
    from recon.serving.server import ReconServer

    load = os.getloadavg()[0]
    tmp = pathlib.Path(tempfile.mkdtemp())
    scan = tmp / "scan.h5"
    write_scan(scan, a.slices, a.coils, a.size)
    args: ap.Namespace = options("cg-sense", {"iters": a.iters})

    def file_time() -> float:
        t0 = time.perf_counter()
        reconstruct_raw(load_raw(scan, "auto"), args, str(scan))
        return (time.perf_counter() - t0) / a.slices

    file_time()  # warm-up: compilation
    per_slice = statistics.median(file_time() for _ in range(a.rounds))

    srv = ReconServer("127.0.0.1", 0, workers=1)
    srv.start()
    xml, acqs = read_stream(scan)
    text = json.dumps({"iters": a.iters})

    last_in_slice = [acq.is_flag_set(ismrmrd.ACQ_LAST_IN_SLICE) for acq in acqs]

    def pause(i: int, _t: float) -> None:
        if last_in_slice[i]:
            time.sleep(a.pace)

    def session(method: str = "cg-sense", paced: bool = False) -> list[float]:
        images, texts = send(xml, acqs, *srv.address, config=method, config_text=text,
                             on_sent=pause if paced else None)
        assert not texts and len(images) == a.slices, texts
        return [float(image_meta(im)["LatencySeconds"]) for im in images]

    session()  # warm-up: the per-slice shapes compile once per server
    paced = [x for _ in range(a.rounds) for x in session(paced=True)]
    burst = [x for _ in range(a.rounds) for x in session()]
    latency = statistics.median(paced)

    rss, threads = [], []
    for i in range(a.sessions):
        session("cg-sense" if i % 2 else "zero-filled")
        time.sleep(0.5)  # the server's session thread ends (and trims) after the client
        rss.append(rss_mb())
        threads.append(threading.active_count())
    srv.shutdown()
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"load average {load:.2f} at the start",
        "problem": f"{a.slices} slices x {a.coils} coils x {2 * a.size}x{a.size} (2x readout "
                   f"oversampling) -> {a.size}x{a.size}, R=2 + 24 ACS lines, cg-sense "
                   f"{a.iters} iterations",
        "recon_mri_s_per_slice": per_slice,
        "pace_s": a.pace,
        "serve_latency_s_median": latency,
        "serve_latency_s_max": max(paced),
        "ratio": latency / per_slice,
        "burst_latency_s_median": statistics.median(burst),
        "burst_latency_s_max": max(burst),
        "burst_ratio": statistics.median(burst) / per_slice,
        "rss_mb": rss,
        "rss_growth_after_first": (rss[-1] - rss[0]) / rss[0],
        "rss_growth_max_after_first": (max(rss) - rss[0]) / rss[0],
        "threads": threads,
    }
    print(json.dumps(result, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()

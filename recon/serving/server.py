"""``recon serve``: an MRD (ISMRMRD) streaming reconstruction server.

Protocol (the MRD streaming format of ``ismrmrd.serialization``, as spoken by Gadgetron and
python-ismrmrd-server clients): every message is a little-endian uint16 id and a payload.

    client -> server   CONFIG_FILE (1) or CONFIG_TEXT (2)   method name / JSON options
                       HEADER (3)                           the ISMRMRD XML header
                       ACQUISITION (1008) ...               readouts, noise scans first
                       WAVEFORM (1026)                      accepted and ignored
                       TEXT (5)                             logged
                       CLOSE (4)                            end of the stream
    server -> client   IMAGE (1022) ...                     one per slice, as each finishes
                       TEXT (5)                             one line, only on an error
                       CLOSE (4)

Each connection is read by a thread of a connection pool (``MAX_CONNECTIONS`` at once; more
wait to be served); a slice that is complete
(:mod:`recon.serving.slices`) is handed to a worker pool shared by all connections (``workers``
threads; JAX releases the GIL while it computes), so a slice is reconstructed while the next one
streams in, and images go back as they finish. The reconstruction is
:func:`recon.mri_reconstruction.reconstruct_raw`, the one of ``recon mri``; compiled solvers are
cached per process by method, options and shapes (``recon.classical_mri``, ``recon.aot``), so a
server compiles once for all its sessions.

Threads are reused, never one new thread per connection, glibc's malloc arenas are capped
(:func:`limit_malloc_arenas`) and trimmed after each session (:func:`release_free_memory`):
glibc gives each new thread that allocates an arena of its own (up to 8 per core) and keeps
the arenas' freed memory, so a thread per session grew the resident memory by 36 % over 20
sessions before it levelled off (experiments/bench_serve.py).

A bad stream (unknown message id, a truncated message, acquisitions that contradict the header,
an unknown configuration, a client that disconnects) ends that session only: the server sends
one ``error: ...`` TEXT line where the socket still works, then CLOSE, logs it, and keeps
serving; images already sent stay sent.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import socket
import socketserver
import threading
import time

from recon.errors import UserError

log = logging.getLogger("recon.serving")


class ReconServer:
    """A threaded TCP server; ``base`` holds default ``recon mri`` options for every session
    (overridden by the client's configuration); ``dicom`` a folder for one DICOM series per
    session (:mod:`recon.io.dicom`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9002, workers: int = 2,
                 base: dict | None = None, dicom: str | None = None):
        limit_malloc_arenas()
        self.base = dict(base or {})
        self.dicom = dicom
        self.pool = concurrent.futures.ThreadPoolExecutor(max(1, workers),
                                                          thread_name_prefix="recon-worker")
        self.sessions = itertools.count(1)
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                Session(owner, self.request, next(owner.sessions)).run()

        self.tcp = _PooledTCPServer((host, port), Handler)

    @property
    def address(self) -> tuple[str, int]:
        return self.tcp.server_address[:2]

    def serve_forever(self) -> None:
        self.tcp.serve_forever(poll_interval=0.1)

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, benchmarks)."""
        t = threading.Thread(target=self.serve_forever, daemon=True, name="recon-serve")
        t.start()
        return t

    def shutdown(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()
        self.pool.shutdown(wait=True)


MAX_CONNECTIONS = 16
#: glibc's ``mallopt`` parameter number of ``M_ARENA_MAX`` (malloc.h)
_M_ARENA_MAX = -8


def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process (as ``MALLOC_ARENA_MAX`` does); ``False``
    where the C library is not glibc. A server's threads otherwise get up to 8 arenas per core,
    each holding on to the memory it once held."""
    libc = _libc()
    try:
        return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))
    except AttributeError:
        return False


def release_free_memory() -> bool:
    """Return the free memory of every malloc arena to the system (glibc ``malloc_trim``);
    called when a session ends, so that what one session freed does not stay resident."""
    libc = _libc()
    try:
        return bool(libc.malloc_trim(0))
    except AttributeError:
        return False


class _PooledTCPServer(socketserver.TCPServer):
    """A TCP server that handles each connection on a reused thread of a fixed pool; closing
    it drops the open connections (their sessions end at once) and waits for their threads."""

    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        self.connections = concurrent.futures.ThreadPoolExecutor(
            MAX_CONNECTIONS, thread_name_prefix="recon-connection")
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        with self.open_lock:
            self.open.add(request)
        self.connections.submit(self._handle, request, client_address)

    def _handle(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self.open_lock:
                self.open.discard(request)
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self.open_lock:
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.connections.shutdown(wait=True, cancel_futures=True)


class Session:
    """One connection: read messages, collect slices, send images (module docstring)."""

    def __init__(self, server: ReconServer, sock: socket.socket, number: int):
        from ismrmrd.serialization import ProtocolDeserializer, ProtocolSerializer

        self.server = server
        self.sock = sock
        self.name = f"session {number}"
        self.reader = ProtocolDeserializer(sock.makefile("rb"))
        self.wfile = sock.makefile("wb")
        self.writer = ProtocolSerializer(self.wfile)
        self.lock = threading.Lock()
        self.futures: list[concurrent.futures.Future] = []
        self.results: list[tuple] = []
        self.method = "default"
        self.text: dict = {}
        self.args = None
        self.collector = None

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            self._read()
            if self.collector is None:
                raise UserError("the stream closed before an ISMRMRD header (message 3)")
            for s in self.collector.pending():
                self._submit(s)
            self._wait()
            self._dicom()
            self._close()
            log.info("%s: done, %d image(s), %.3f s", self.name, len(self.results),
                     time.perf_counter() - t0)
        except EOFError as err:
            self._fail(f"the stream ended inside a message or before CLOSE ({err}); the client "
                       "disconnected or sent a truncated message")
        except UserError as err:
            self._fail(str(err))
        except (ValueError, TypeError, OSError) as err:
            self._fail(f"bad message: {err}")
        except Exception as err:  # a server never dies of one stream
            log.exception("%s: unexpected error", self.name)
            self._fail(f"internal error: {type(err).__name__}: {err}")
        finally:
            self._wait(quiet=True)
            for f in (self.wfile, self.sock):
                with contextlib.suppress(OSError):
                    f.close()
            release_free_memory()

    def _read(self) -> None:
        import ismrmrd
        from ismrmrd.serialization import ConfigFile, ConfigText
        from ismrmrd.xsd import ismrmrdHeader

        from recon.serving.config import options, parse_config_text
        from recon.serving.slices import SliceCollector

        for msg in self.reader.deserialize():
            if isinstance(msg, ConfigFile):
                self.method = str(msg).strip() or "default"
                options(self.method, self.text, self.server.base)  # refuse unknown names now
            elif isinstance(msg, ConfigText):
                self.text = parse_config_text(str(msg))
                options(self.method, self.text, self.server.base)
            elif isinstance(msg, ismrmrdHeader):
                self.args = options(self.method, self.text, self.server.base)
                self.collector = SliceCollector(self.name, msg.toXML())
                log.info("%s: %s, header received", self.name, self.args.method)
            elif isinstance(msg, ismrmrd.Acquisition):
                if self.collector is None:
                    raise UserError("an acquisition arrived before the ISMRMRD header "
                                    "(message 3)")
                s = self.collector.add(msg)
                if s is not None:
                    self._submit(s)
            elif isinstance(msg, ismrmrd.Waveform):
                continue
            elif isinstance(msg, str):
                log.info("%s: client says: %s", self.name, msg[:200])
            else:
                raise UserError(f"unexpected message {type(msg).__name__} from a client "
                                "(expected config, header, acquisitions, waveforms, text)")
            if self._failed():
                return

    def _failed(self) -> bool:
        return any(f.done() and f.exception() is not None for f in self.futures)

    def _submit(self, s: int) -> None:
        t_last = time.perf_counter()
        data, row = self.collector.take(s)
        self.futures.append(self.server.pool.submit(self._reconstruct, s, data, row, t_last))

    def _reconstruct(self, s: int, data: dict, row, t_last: float) -> None:
        from recon.mri_reconstruction import reconstruct_raw
        from recon.serving.images import field_of_view, mrd_image

        t0 = time.perf_counter()
        result = reconstruct_raw(data, self.args, f"{self.name} slice {s}")
        recon_s = time.perf_counter() - t0
        fov = field_of_view(self.collector.xml)
        meta = {"Method": self.args.method, "ImageScale": 1.0, "ReconSeconds": f"{recon_s:.6f}",
                **{k: v for k, v in result.options.items()}}
        with self.lock:
            latency = time.perf_counter() - t_last
            meta["LatencySeconds"] = f"{latency:.6f}"
            images = [mrd_image(result.images[0], row, s, 1, fov, meta)]
            if result.std is not None:
                images.append(mrd_image(result.std[0], row, s, 2, fov, meta))
            for img in images:
                self.writer.serialize(img)
            self.wfile.flush()
            self.results.append((s, result, row))
        h, w = result.images.shape[-2:]
        log.info("%s slice %d: %dx%d %s, reconstruction %.3f s, last acquisition -> image "
                 "%.3f s", self.name, s, h, w, self.args.method, recon_s, latency)

    def _wait(self, quiet: bool = False) -> None:
        for f in self.futures:
            try:
                f.result()
            except Exception:
                if not quiet:
                    raise

    def _dicom(self) -> None:
        if self.server.dicom is None or not self.results:
            return
        import numpy as np

        from recon.io.dicom import write_series

        done = sorted(self.results, key=lambda r: r[0])
        images = np.stack([r[1].images[0] for r in done])
        rows = np.concatenate([r[2] for r in done])
        write_series(self.server.dicom, images, self.collector.xml, rows,
                     method=self.args.method, options=done[0][1].options)

    def _close(self) -> None:
        with self.lock:
            self.writer.close()

    def _fail(self, message: str) -> None:
        log.warning("%s: error: %s", self.name, message)
        try:
            with self.lock:
                self.writer.serialize(f"error: {message}")
                self.writer.close()
        except OSError:
            pass

"""recon.aot.call: one trace per key in a process, with and without the on-disk export."""

from __future__ import annotations

import jax.numpy as jnp

from recon import aot


def _counting_program(traces: list):
    def make():
        def double(x):
            traces.append(1)  # runs only while tracing
            return 2 * x
        return double
    return make


def test_call_traces_once_per_key_without_the_disk_cache():
    aot.enable(None)
    traces: list = []
    x = jnp.arange(4.0)
    for _ in range(3):
        assert jnp.array_equal(aot.call("test-double", _counting_program(traces), x), 2 * x)
    assert len(traces) == 1
    aot.call("test-double", _counting_program(traces), jnp.arange(5.0))  # a new shape
    assert len(traces) == 2


def test_call_exports_once_and_reloads_from_disk(tmp_path):
    traces: list = []
    x = jnp.arange(3.0)
    try:
        aot.enable(tmp_path)
        aot.call("test-double", _counting_program(traces), x)
        aot.call("test-double", _counting_program(traces), x)
        assert len(traces) == 1
        assert len(list(tmp_path.glob("*.jaxexport"))) == 1
        aot.enable(tmp_path)  # a new process: the program comes from the file, not a trace
        assert jnp.array_equal(aot.call("test-double", _counting_program(traces), x), 2 * x)
        assert len(traces) == 1
    finally:
        aot.enable(None)


def test_least_recently_used_programs_are_dropped(monkeypatch):
    aot.enable(None)
    monkeypatch.setattr(aot, "MAX_PROGRAMS", 2)
    traces: list = []
    for n in (1, 2, 3):
        aot.call("test-double", _counting_program(traces), jnp.zeros(n))
    assert len(aot._programs) == 2
    aot.call("test-double", _counting_program(traces), jnp.zeros(1))  # dropped: traced again
    assert len(traces) == 4
    aot.enable(None)

"""Command-line surface: help for every subcommand, --device, one-line errors with exit 2."""

import pytest

from recon.cli import COMMANDS, build_parser, main


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"recon {command}" in out and len(out.splitlines()) > 3


def test_top_level_help_lists_commands():
    text = build_parser().format_help()
    assert all(c in text for c in COMMANDS)


def test_unavailable_device_is_a_user_error(capsys):
    assert main(["--device", "tpu", "sample", "--prior", "ct-ellipses", "--out", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--device tpu is not available" in err and len(err.splitlines()) == 1


def test_device_cpu_runs(tmp_path):
    assert main(["--device", "cpu", "sample", "--prior", "ct-ellipses", "--n", "1", "--size",
                 "16", "--nfe", "2", "--out", str(tmp_path / "s")]) == 0


def test_failed_device_choice_leaves_jax_usable():
    import jax.numpy as jnp

    main(["--device", "tpu", "sample", "--prior", "ct-ellipses", "--out", "x"])
    assert float(jnp.sum(jnp.ones(3))) == 3.0

"""Every example in docs/examples runs (small sizes), so the documentation cannot rot."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = {
    "sweep_acceleration.py": ["--size", "128", "--accelerations", "4"],
    "reconstruct_fastmri_file.py": ["128"],
    "new_consistency_module.py": [],
    "multi_device.py": [],
    "train_on_fastmri.py": ["4"],
}


def test_every_example_is_listed():
    assert sorted(p.name for p in (ROOT / "docs" / "examples").glob("*.py")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / name), *EXAMPLES[name]],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.strip(), "an example must print what it shows"


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    parts = text.split(f"```{language}\n")[1:]
    return [p.split("```", 1)[0] for p in parts]


def test_readme_python_examples_run():
    blocks = readme_blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    """`.ci/run` must run exactly the README's test command (the second bash block)."""
    test_command = readme_blocks("bash")[1].strip().split("&&")[-1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command == "pytest -q"
    assert ci_lines[-1] == test_command

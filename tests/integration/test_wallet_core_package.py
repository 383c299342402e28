"""wallet-core is a distribution of its own: its wheel installs into a fresh virtual environment
with nothing else in it, and the README's embedding example runs there."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _embedding_example() -> str:
    section = README.read_text().split("## Embedding the core", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README.md's 'Embedding the core' has no python block"
    return match.group(1)


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the wheel (the README's test command runs under uv)")
    out = tmp_path_factory.mktemp("dist")
    _run(uv, "build", "--package", "wallet-core", "--wheel", "--out-dir", out, cwd=ROOT)
    (built,) = out.glob("wallet_core-*.whl")
    return built


def test_the_wheel_holds_the_core_alone_and_says_it_is_typed(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.startswith("wallet_core-")}
    assert packages == {"wallet_core"}, packages
    assert "wallet_core/py.typed" in names
    assert not [n for n in names if n.endswith(".pyc")]
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist" not in text, "wallet-core must not depend on anything"


def test_the_readme_example_runs_in_a_venv_with_only_the_wheel(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # No pip in the venv and no index: unpacking the wheel is all an install of it needs.
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    zipfile.ZipFile(wheel).extractall(site)
    example = tmp_path / "example.py"
    example.write_text(_embedding_example())
    out = _run(python, "-I", example, cwd=tmp_path)  # -I: no user site, no PYTHONPATH
    assert out.split() == ["7450", "True"], out
    installed = _run(
        python,
        "-c",
        "import importlib.metadata as m;"
        "print(sorted({d.metadata['Name'] for d in m.distributions()}))",
    )
    assert installed.strip() == "['wallet-core']", installed

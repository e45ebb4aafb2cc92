"""The package installs under one import name: ``pyro_local``."""

import importlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import pyro_local

ROOT = Path(__file__).resolve().parents[1]


def test_models_and_guides_import_under_pyro_local():
    models = importlib.import_module("pyro_local.models")
    guides = importlib.import_module("pyro_local.guides")
    assert models.__name__ == "pyro_local.models"
    assert guides.__name__ == "pyro_local.guides"
    # They are the repository's top-level folders, mapped by setup.cfg's package_dir.
    assert Path(models.__file__).parent.name == "models"
    assert Path(guides.__file__).parent.name == "guides"


def test_no_top_level_models_or_guides_module(tmp_path):
    # Run from an empty folder so that the repository root is not on sys.path:
    # only what pip installed can be imported.
    code = (
        "import importlib.util as u, pyro_local.models, pyro_local.guides;"
        "print(u.find_spec('models'), u.find_spec('guides'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "None"]


@pytest.mark.slow
def test_wheel_holds_only_pyro_local(tmp_path):
    # A non-editable install is the wheel: every file it would install lies under
    # pyro_local/ (or the .dist-info folder).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("pyro_local-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"pyro_local"}
    assert "pyro_local/models/__init__.py" in names
    assert "pyro_local/guides/__init__.py" in names


def test_version():
    assert pyro_local.__version__.count(".") == 2


def test_no_file_refers_to_a_developers_machine():
    # Scripts and docs must run anywhere: no absolute paths of one machine.
    root = ROOT
    found = []
    for folder in ("examples", "benchmarks", "docs", "pyro_local", "models", "guides"):
        for path in (root / folder).rglob("*"):
            if path.suffix in (".py", ".sh", ".md", ".cfg", ".toml") and path.is_file():
                text = path.read_text(errors="replace")
                found += [f"{path.relative_to(root)}: {m}"
                          for m in re.findall(r"(?:/work|/home/\w+|/Users/\w+)/[\w./-]+", text)]
    assert found == []

"""The templates ship inside the package: in a checkout, and in what a wheel holds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib

from abuse_intake.notify.render import KINDS, PARTS, shipped_templates_dir
from notify_fixtures import REPO

EXPECTED = sorted(f"{lang}/{kind}.{part}.j2" for lang in ("en", "id") for kind in KINDS for part in PARTS)


def _setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_source_package_is_listed_in_pyproject():
    # packages are listed by hand (find cannot see templates/); a forgotten new
    # sub-package would silently be missing from the wheel.
    on_disk = {".".join(p.parent.relative_to(REPO / "src").parts)
               for p in (REPO / "src" / "abuse_intake").rglob("__init__.py")}
    listed = set(_setuptools_config()["packages"])
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert {"abuse_intake.templates", "abuse_intake.templates.en", "abuse_intake.templates.id"} <= listed


def test_installed_package_finds_the_templates():
    root = shipped_templates_dir()
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.j2")) == EXPECTED


def test_build_copies_every_template_into_the_package(tmp_path):
    # build_py is the step that fills a wheel; run offline on a copy of the tree.
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copytree(REPO / "templates", tmp_path / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                           "--build-lib", str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    built = tmp_path / "out" / "abuse_intake" / "templates"
    assert (built / "__init__.py").is_file()
    assert sorted(str(p.relative_to(built)) for p in built.rglob("*.j2")) == EXPECTED
    assert (tmp_path / "out" / "abuse_intake" / "notify" / "render.py").is_file()

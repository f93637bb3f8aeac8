"""The package zip the executors of a cluster import pixguard from."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pixguard
from pixguard.infra.package_archive import build_package_archive

PACKAGE_DIR = Path(pixguard.__file__).resolve().parent


def test_the_archive_holds_the_package_sources_and_nothing_compiled(tmp_path: Path) -> None:
    archive = build_package_archive(tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert "pixguard/__init__.py" in names and "pixguard/features/behaviour.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    sources = {p.relative_to(PACKAGE_DIR.parent).as_posix() for p in PACKAGE_DIR.rglob("*.py")}
    assert sources <= set(names)


def test_the_name_follows_the_content(tmp_path: Path) -> None:
    copy = tmp_path / "src" / "pixguard"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = build_package_archive(tmp_path / "out", copy)
    assert build_package_archive(tmp_path / "out", copy) == first  # same sources: the same file, not rebuilt
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "noise.cpython-311.pyc").write_bytes(b"\0")
    assert build_package_archive(tmp_path / "out", copy) == first  # bytecode is not part of the content
    (copy / "domain" / "rules.py").write_text((copy / "domain" / "rules.py").read_text() + "\n# changed\n")
    changed = build_package_archive(tmp_path / "out", copy)
    assert changed != first and changed.is_file() and first.is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([first.name, changed.name])


def test_an_interpreter_without_the_project_imports_it_from_the_archive(tmp_path: Path) -> None:
    """`python -S` sees neither site-packages nor the editable install: only the zip provides pixguard
    (documents.py needs the standard library alone)."""
    archive = build_package_archive(tmp_path)
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import pixguard.domain.documents as d; print(d.__file__)"
    without = subprocess.run([sys.executable, "-S", "-c", "import pixguard"], capture_output=True, text=True)
    assert without.returncode != 0 and "No module named 'pixguard'" in without.stderr
    result = subprocess.run([sys.executable, "-S", "-c", probe, str(archive)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{archive}/pixguard/domain/documents.py"

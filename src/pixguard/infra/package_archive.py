"""The pixguard package as a zip for the executors of a cluster (`SparkContext.addPyFile`).

On a cluster the executors' Python has the locked dependencies but not this project: the model's
pandas UDFs and the validation functions import `pixguard` there. Each session ships the package
its driver imported, read from where the driver imported it, whatever is installed on the nodes.

The archive is named by a hash of its content and written once: a driver started after an upgrade
ships the new code under a new name, and two drivers of the same code share one file."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import pixguard

# Fixed timestamps keep the archive, and so its name, a function of the sources alone.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def package_files(package_dir: Path) -> list[Path]:
    """Everything the package holds (sources and package data), without bytecode caches."""
    return sorted(
        path
        for path in package_dir.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}
    )


def build_package_archive(folder: Path, package_dir: Path | None = None) -> Path:
    """`folder/pixguard-<content hash>.zip`, built if it is not there yet; the package is the one
    imported by this process unless `package_dir` says otherwise."""
    package_dir = package_dir or Path(pixguard.__file__).resolve().parent
    # Read once: the name and the zip are made of the same bytes, even if the sources change meanwhile.
    contents = {p.relative_to(package_dir.parent).as_posix(): p.read_bytes() for p in package_files(package_dir)}
    digest = hashlib.sha256()
    for name, content in contents.items():
        digest.update(name.encode() + b"\0" + content + b"\0")
    archive = folder / f"{package_dir.name}-{digest.hexdigest()[:16]}.zip"
    if archive.is_file():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".zip")
    os.close(handle)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            for name, content in contents.items():
                entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                zipped.writestr(entry, content)
        os.replace(partial, archive)  # another driver may have raced us: same content, same name
    finally:
        Path(partial).unlink(missing_ok=True)
    return archive

"""JVM artifacts from Maven Central, resolved with the Ivy jar that pyspark ships.

Only Java and the Python environment are needed (no Maven); Ivy keeps its cache under the state
folder, so a second resolution is offline and instant.
"""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pixguard.stack.processes import ServiceError


@dataclass(frozen=True)
class MavenArtifact:
    group: str
    name: str
    version: str


def ivy_jar() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ServiceError("pyspark is not installed: its bundled Ivy jar resolves the Kafka broker jars")
    candidates = sorted((Path(spec.origin).parent / "jars").glob("ivy-*.jar"))
    if not candidates:
        raise ServiceError(f"no ivy-*.jar in {Path(spec.origin).parent / 'jars'}")
    return candidates[-1]


def _ivy_module(artifacts: list[MavenArtifact], excludes: list[tuple[str, str]]) -> str:
    deps = "\n".join(
        f'    <dependency org="{a.group}" name="{a.name}" rev="{a.version}" conf="default->default"/>'
        for a in artifacts
    )
    excluded = "".join(f'\n    <exclude org="{org}" module="{module}"/>' for org, module in excludes)
    return (
        '<ivy-module version="2.0">\n  <info organisation="pixguard" module="resolved"/>\n'
        f"  <dependencies>\n{deps}{excluded}\n  </dependencies>\n</ivy-module>\n"
    )


def parse_coordinates(coordinates: str) -> list[MavenArtifact]:
    """`group:name:version[,group:name:version...]`, as spark.jars.packages lists them."""
    artifacts = []
    for coordinate in filter(None, (c.strip() for c in coordinates.split(","))):
        parts = coordinate.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"not a Maven coordinate group:name:version: {coordinate!r}")
        artifacts.append(MavenArtifact(*parts))
    return artifacts


def resolve_jars(
    artifacts: list[MavenArtifact],
    dest: Path,
    cache: Path,
    timeout_s: float = 600,
    excludes: list[tuple[str, str]] | None = None,
) -> list[Path]:
    """Download `artifacts` and their runtime dependencies into `dest` (once; later calls reuse it).
    Ivy checks each download against the checksum Maven Central publishes. `excludes`: (organisation,
    module) pairs left out of the transitive set."""
    module = _ivy_module(artifacts, excludes or [])
    marker = dest / ".resolved"
    if marker.is_file() and marker.read_text() == module:
        return sorted(dest.glob("*.jar"))
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.jar"):
        old.unlink()
    ivy_file = dest / "ivy.xml"
    ivy_file.write_text(module)
    command = [
        "java", "-jar", str(ivy_jar()),
        "-ivy", str(ivy_file),
        "-cache", str(cache),
        "-retrieve", f"{dest}/[artifact]-[revision](-[classifier]).[ext]",
        "-types", "jar", "bundle", "-confs", "default",
    ]  # fmt: skip
    # OSGi bundles (scala-logging, jackson-datatype-jdk8) have type "bundle", not "jar".
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise ServiceError(
            f"resolving {artifacts} from Maven Central failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    jars = sorted(dest.glob("*.jar"))
    if not jars:
        raise ServiceError(f"Ivy resolved {artifacts} but retrieved no jar into {dest}:\n{result.stdout[-3000:]}")
    marker.write_text(module)
    return jars

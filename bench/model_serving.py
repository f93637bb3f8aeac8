"""Benchmark: serving the LightGBM model in the JVM, two ways (issue 23).

One model trained as pixguard trains (pixguard.model.train, default settings, the served features) on
synthetic rows with missing values, scored on held-out rows by
- pixguard's own evaluator of LightGBM's text model format (src/jvm/pixguard/serving/LightGbmModel.scala),
- lightgbm4j (io.github.metarank:lightgbm4j, LightGBM's C++ library over JNI, from Maven Central),
one row at a time, as the hot path scores. Per engine: model load time, first score, time per row on
one core (best of --rounds passes over the rows, after warm-up) and the largest difference from
LightGBM's Python score of the same rows.

Run: .venv/bin/python bench/model_serving.py (after `make install`; downloads the lightgbm4j jar once
into .pixguard/bench-jars, checked against Maven Central's SHA-1)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.settings import LightGbmSettings
from pixguard.model.train import train_booster

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LIGHTGBM4J = ("io.github.metarank", "lightgbm4j", "4.3.0-1")
MAVEN = "https://repo1.maven.org/maven2"


def maven_jar(group: str, artifact: str, version: str) -> Path:
    folder = PROJECT_ROOT / ".pixguard" / "bench-jars"
    jar = folder / f"{artifact}-{version}.jar"
    if jar.exists():
        return jar
    folder.mkdir(parents=True, exist_ok=True)
    url = f"{MAVEN}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
    data = urllib.request.urlopen(url, timeout=120).read()  # noqa: S310 - Maven Central, fixed URL
    expected = urllib.request.urlopen(url + ".sha1", timeout=60).read().decode().split()[0]  # noqa: S310
    if hashlib.sha1(data).hexdigest() != expected:  # noqa: S324 - Maven Central publishes SHA-1
        raise RuntimeError(f"{url}: checksum mismatch")
    jar.write_bytes(data)
    return jar


def synthetic(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of the served features: skewed amounts and counts, some missing values (as key age is for
    an unknown key), a label that depends on several of them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.gamma(1.5, 2.0, (rows, len(MODEL_FEATURES))), columns=list(MODEL_FEATURES))
    frame[frame.columns[::5]] = frame[frame.columns[::5]].mask(rng.random((rows, len(frame.columns[::5]))) < 0.2)
    signal = frame.iloc[:, 0].fillna(0) * 0.6 + frame.iloc[:, 3].fillna(5) * 0.3 - frame.iloc[:, 7] * 0.2
    label = (signal + rng.normal(0, 1.0, rows) > 3.5).astype(int).to_numpy()
    return frame, label


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=20_000, help="held-out rows scored")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    settings = LightGbmSettings()
    train, label = synthetic(args.train_rows, seed=1)
    booster = train_booster(train, pd.Series(label), settings)
    held_out, _ = synthetic(args.rows, seed=2)
    matrix = held_out[MODEL_FEATURES].to_numpy(dtype="float64")
    started = time.perf_counter()
    python_scores = booster.predict(matrix)
    python_batch_us = (time.perf_counter() - started) / len(matrix) * 1e6
    started = time.perf_counter()
    for row in matrix[:2_000]:
        booster.predict(row.reshape(1, -1))
    python_row_us = (time.perf_counter() - started) / 2_000 * 1e6

    import pyspark

    spark_jars = Path(pyspark.__file__).parent / "jars"
    lightgbm4j = maven_jar(*LIGHTGBM4J)
    features_jar = PROJECT_ROOT / "build" / "pixguard-features.jar"
    with tempfile.TemporaryDirectory(prefix="pixguard-model-bench-") as tmp:
        folder = Path(tmp)
        (folder / "model.txt").write_text(booster.model_to_string())
        matrix.astype("<f8").tofile(folder / "features.bin")
        python_scores.astype("<f8").tofile(folder / "python_scores.bin")
        classpath = os.pathsep.join([f"{spark_jars}/*", str(features_jar), str(lightgbm4j)])
        subprocess.run(
            ["java", "-cp", classpath, "scala.tools.nsc.Main", "-usejavacp", "-release", "17", "-d", str(folder)]
            + [str(PROJECT_ROOT / "bench" / "jvm" / "ModelServingBench.scala")],
            check=True,
        )
        out = subprocess.run(
            ["java", "-cp", os.pathsep.join([str(folder), classpath]), "ModelServingBench"]
            + [str(folder), str(len(MODEL_FEATURES)), str(args.rounds)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    trees = booster.num_trees()
    print(
        json.dumps(
            {
                "machine": f"{platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}",
                "date": time.ctime(),
                "trees": trees,
                "num_leaves": settings.num_leaves,
                "features": len(MODEL_FEATURES),
                "held_out_rows": len(matrix),
                "python_lightgbm_batch_per_row_us": round(python_batch_us, 2),
                "python_lightgbm_single_row_us": round(python_row_us, 1),
            }
        )
    )
    for line in out.splitlines():
        if line.startswith("{"):
            print(line)


if __name__ == "__main__":
    main()

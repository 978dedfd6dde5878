"""`rebalance warm-jars` when a start has already noted the JARs: no Spark starts (no JVM)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rebalance_lib.storage.session import delta_package


def warm_jars(tmp_path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """`rebalance warm-jars` with ``cache`` as the user's cache folder and no Java to start."""
    no_java = tmp_path / "no-java"
    no_java.mkdir(exist_ok=True)
    return subprocess.run(
        [str(Path(sys.executable).with_name("rebalance")), "warm-jars", "-q"],
        env={
            **os.environ,
            "XDG_CACHE_HOME": str(cache),
            "JAVA_HOME": str(no_java),  # a Spark start would fail: no bin/java here
            "PATH": str(Path(sys.executable).parent),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_noted_jars_that_are_all_there_need_no_spark_start(tmp_path: Path) -> None:
    jars = [tmp_path / "ivy" / name for name in ("delta-spark_4.2_2.13-4.4.0.jar", "other.jar")]
    for jar in jars:
        jar.parent.mkdir(exist_ok=True)
        jar.write_bytes(b"PK")
    manifest = tmp_path / "cache" / "rebalance" / f"jars-{delta_package().replace(':', '_')}.txt"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("".join(f"file://{jar}\n" for jar in jars))
    warmed = warm_jars(tmp_path, tmp_path / "cache")
    assert warmed.returncode == 0, warmed.stderr
    assert warmed.stdout.strip() == "rebalance: Delta's JARs are in the local Ivy cache"

    jars[1].unlink()  # a noted file gone: Spark must start to fetch it again, and cannot here
    refetched = warm_jars(tmp_path, tmp_path / "cache")
    assert refetched.returncode == 3, refetched.stderr
    assert "cannot fetch Delta's JARs" in refetched.stderr

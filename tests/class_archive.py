"""A class-data-sharing archive of the classes a Spark driver loads, for the suite's JVMs.

A driver JVM loads and verifies about 16,000 classes from Spark's JARs before it reads a row.
Java's class-data sharing maps them from an archive instead: the archive is recorded once, by a
demo run with ``-XX:ArchiveClassesAtExit`` (``make setup-test``), and every driver the suite
starts maps it with ``-XX:SharedArchiveFile``. A `rebalance run` on a small table drops from
about 22 s to 14 s on two cores, whole process.

The JVM uses an archive only if the class path it was recorded with is the one it runs with,
JAR for JAR (sizes and times): so the archive is named by the installed pyspark's JARs and the
Java that records it, the suite's drivers keep Spark's own class path (no ``SPARK_CONF_DIR``, a
folder with files in it on the class path turns the archive off), and a JVM whose class path
differs (another venv's pyspark, a test's own ``SPARK_CONF_DIR``) runs as it would without one,
silently (``-Xlog:cds*=off``). Without an archive the suite runs the same tests, slower.

    python tests/class_archive.py    # record it unless the installed Spark's one is there
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
# The flags of a driver that lives for seconds on a small table: the first JIT tier and the
# serial collector (about 30 s -> 24 s for a `rebalance run` on two cores).
SHORT_LIVED_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
# The suite's own sessions and the Connect server live for the whole run and keep both JIT
# tiers, with the serial collector too: G1's concurrent threads cost more than they save on these
# small heaps (test_api, test_real_tables, test_errors and test_report in one process: 211 ->
# about 180 CPU seconds, 132 -> 120 s). Their JIT's second tier compiles only code that runs
# very often: by default it recompiles most of what hundreds of small queries touch once or
# twice, and its compiler threads burnt about 40% of the session's CPU (test_api,
# test_real_tables and test_report in one process: the JVM's CPU 138 -> 112 s).
LONG_LIVED_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:Tier4InvocationThreshold=50000",
    "-XX:Tier4CompileThreshold=60000",
    "-XX:Tier4BackEdgeThreshold=400000",
)
QUIET = "-Xlog:cds*=off"  # an archive that does not fit is skipped without a word on stdout
RECORD_TIMEOUT_S = 600.0


def archive_path() -> Path | None:
    """Where the archive for this venv's Spark JARs and this Java lives (it may not exist);
    None without a Java."""
    java = _java()
    if java is None:
        return None
    parts = [str(SPARK_HOME), str(java), str(java.stat().st_mtime_ns)]
    for jar in sorted((SPARK_HOME / "jars").glob("*.jar")):
        status = jar.stat()
        parts += [jar.name, str(status.st_size), str(status.st_mtime_ns)]
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return Path(sys.prefix) / "share" / "rebalance-tests" / f"spark-driver-{key}.jsa"


def driver_flags() -> tuple[str, ...]:
    """The JVM flags that map the archive, or none when it has not been recorded."""
    archive = archive_path()
    return (f"-XX:SharedArchiveFile={archive}", QUIET) if archive and archive.is_file() else ()


def record(archive: Path) -> None:
    """Record the archive from a demo run (its driver writes it as it exits)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
    env = {
        **os.environ,
        "SPARK_SUBMIT_OPTS": " ".join(
            [*SHORT_LIVED_FLAGS, f"-XX:ArchiveClassesAtExit={partial}", QUIET]
        ),
    }
    env.pop("SPARK_CONF_DIR", None)
    rebalance = Path(sys.executable).with_name("rebalance")
    with tempfile.TemporaryDirectory(prefix="rebalance-class-archive-") as workdir:
        command = [str(rebalance), "demo", "--workdir", workdir, "--rows", "20000", "--quiet"]
        finished = subprocess.run(
            [*command, "--master", "local[2]"],
            env=env,
            capture_output=True,
            text=True,
            timeout=RECORD_TIMEOUT_S,
            check=False,
        )
        if finished.returncode != 0:
            raise SystemExit(f"class archive: the demo run failed:\n{finished.stderr[-3000:]}")
        _wait_for_jvms_naming(str(partial))
    if not partial.is_file():
        raise SystemExit(f"class archive: the demo's driver wrote no {partial}")
    partial.replace(archive)
    for older in archive.parent.glob("spark-driver-*.jsa"):
        if older != archive:
            older.unlink()  # recorded for JARs or a Java no longer installed


def _wait_for_jvms_naming(text: str) -> None:
    """The CLI exits before its driver JVM, which writes the archive on its way out."""
    deadline = time.monotonic() + RECORD_TIMEOUT_S
    while any(text in _cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit()):
        if time.monotonic() > deadline:
            raise SystemExit(f"class archive: a JVM writing {text} has not exited")
        time.sleep(0.5)


def _cmdline(pid: str) -> str:
    try:
        return Path("/proc", pid, "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _java() -> Path | None:
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).is_file() else None


def main() -> int:
    archive = archive_path()
    if archive is None:
        raise SystemExit("class archive: no java on PATH and no JAVA_HOME")
    if archive.is_file():
        print(f"class archive: {archive} (up to date)")
        return 0
    started = time.monotonic()
    record(archive)
    size_mb = archive.stat().st_size / 1e6
    print(f"class archive: {archive} ({size_mb:.0f} MB, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

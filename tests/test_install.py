"""The built wheel installed as a user installs it: into a fresh venv that already holds a
newer supported pyspark than the one we pin, which it must leave alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_wheel, labelled_df, within_binomial_bound, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.core.tables import Table
from rebalance_lib.report.files import read_report

pytestmark = pytest.mark.jvm

PROJECT = Path(__file__).parents[1]
# The newest patch of the Spark minor we support; delta-spark 4.4.x's pyspark<=4.2.0 would
# have downgraded it.
USERS_PYSPARK = "4.2.1"


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the user's pyspark, then `pip install` of our wheel into it."""
    work = tmp_path_factory.mktemp("install")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pins = (PROJECT / "constraints.txt").read_text().splitlines()
    others = work / "constraints.txt"  # our pins for everything but the user's pyspark
    others.write_text("\n".join(pin for pin in pins if not pin.startswith("pyspark==")) + "\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(others)]
    subprocess.run([*pip, f"pyspark=={USERS_PYSPARK}"], check=True, timeout=900)
    subprocess.run([*pip, build_wheel(tmp_path_factory)], check=True, timeout=600)
    return venv


def in_venv(venv: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        env={**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_installing_the_wheel_keeps_the_users_pyspark_and_brings_no_delta_package(
    user_venv: Path,
) -> None:
    installed = in_venv(user_venv, "python", "-m", "pip", "list", "--format=freeze").stdout
    versions = dict(line.split("==") for line in installed.splitlines() if "==" in line)
    assert versions["pyspark"] == USERS_PYSPARK
    assert "delta-spark" not in versions and "delta_spark" not in versions
    named = in_venv(user_venv, "rebalance", "--version")
    assert named.returncode == 0, named.stderr
    assert f"(pyspark {USERS_PYSPARK}, Delta JAR io.delta:delta-spark_4.2_2.13:4.4.0)" in (
        named.stdout
    )


def test_the_installed_command_runs_on_the_users_pyspark(
    spark: SparkSession, user_venv: Path, tmp_path: Path
) -> None:
    source = write_delta(labelled_df(spark, 20_000, 400), tmp_path / "in")
    output = tmp_path / "out"
    ran = in_venv(
        user_venv, "rebalance", "run", "--input", source, "--output", str(output), "--factor", "4"
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = read_report(spark, Table(str(output)))
    assert report.spark_version == USERS_PYSPARK and report.checks_passed
    counts = {
        row["label"]: row["count"]
        for row in spark.read.format("delta").load(str(output)).groupBy("label").count().collect()
    }
    assert counts[1] == 400
    assert within_binomial_bound(counts[0], 19_600, 1 / 4), counts


def test_type_checkers_see_the_installed_package_as_typed(user_venv: Path, tmp_path: Path) -> None:
    snippet = tmp_path / "use.py"
    snippet.write_text("import rebalance_lib\n\nversion: int = rebalance_lib.__version__\n")
    checked = subprocess.run(
        [
            str(Path(sys.executable).with_name("mypy")),
            "--python-executable",
            str(user_venv / "bin" / "python"),
            "--no-incremental",
            str(snippet),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "py.typed" not in checked.stdout, checked.stdout
    assert 'expression has type "str", variable has type "int"' in checked.stdout, checked.stdout

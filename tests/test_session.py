"""Spark + Delta start-up: when Delta's JARs cannot be had, one clear line says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import labelled_df, write_delta
from pyspark.sql import SparkSession

from rebalance_lib.storage.session import cached_jars, delta_package, s3a_package

pytestmark = pytest.mark.jvm  # every test here starts Spark in a child process

# An Ivy setup whose only repository is an empty folder: Delta's JAR cannot be resolved.
NO_REPOSITORY = """<ivysettings>
  <settings defaultResolver="nowhere"/>
  <resolvers><filesystem name="nowhere">
    <ivy pattern="{root}/[organisation]/[module]/[revision]/ivy.xml"/>
    <artifact pattern="{root}/[organisation]/[module]/[revision]/[artifact].[ext]"/>
  </filesystem></resolvers>
</ivysettings>
"""


# A small package of Maven Central's with no dependencies of its own: a user's extra JAR.
EXTRA_PACKAGE = "org.apache.commons:commons-collections4:4.4"


def test_delta_package_is_the_jar_for_the_running_pyspark() -> None:
    assert delta_package() == "io.delta:delta-spark_4.2_2.13:4.4.0"


@pytest.mark.parametrize("s3a", [False, True], ids=["delta", "delta-and-s3a"])
def test_warm_jars_fails_with_one_line_when_the_jar_cannot_be_fetched(
    tmp_path: Path, s3a: bool
) -> None:
    (tmp_path / "repo").mkdir()
    settings = tmp_path / "ivysettings.xml"
    settings.write_text(NO_REPOSITORY.format(root=tmp_path / "repo"))
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(
        f"spark.jars.ivySettings {settings}\nspark.jars.ivy {tmp_path / 'ivy-cache'}\n"
    )
    log = tmp_path / "warm.log"
    finished = subprocess.run(
        [
            str(Path(sys.executable).with_name("rebalance")),
            *["warm-jars", "--log", str(log), *(["--s3a"] if s3a else [])],
        ],
        env={
            **os.environ,
            "SPARK_CONF_DIR": str(conf_dir),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),  # no JARs noted by an earlier start
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 3
    assert finished.stderr.strip().splitlines() == [
        f"rebalance: error: cannot fetch Delta's JARs ({delta_package()})"
        + (f" and {s3a_package()}" if s3a else "")
        + " from Maven Central: "
        "check network and proxy access to Maven Central, then run `make setup` again "
        f"(log: {log})"
    ]
    assert "UNRESOLVED DEPENDENCIES" in log.read_text()


def test_noted_jars_load_without_resolving_and_a_users_packages_are_noted_apart(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A first start resolves Delta's JARs, with a package of the user's (as every S3 user
    adds hadoop-aws), and notes their files; the next start loads those files directly: no
    resolver report, only rebalance's own lines, the same plan. The user's package never
    reaches a start that did not ask for it: that start finds no list of its own."""
    source = write_delta(labelled_df(spark, 2_000, 50), tmp_path / "in")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    extra = ["--set", f"spark.conf.spark.jars.packages={EXTRA_PACKAGE}"]

    def start(*flags: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).with_name("rebalance")), "plan"]
        return subprocess.run(
            [*command, "--input", source, "--factor", "5", *flags],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = start(*extra)
    assert first.returncode == 0, first.stderr[-2000:]  # Delta is there: not replaced
    assert f"fetching Delta's JARs ({delta_package()}) and 1 more package(s)" in first.stderr
    [noted] = (tmp_path / "cache" / "rebalance").iterdir()  # one list, for this request
    jars = noted.read_text()
    assert "delta-spark_4.2_2.13-4.4.0.jar" in jars and "commons-collections4-4.4.jar" in jars
    again = start(*extra)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "fetching" not in again.stderr and ":: resolving dependencies" not in again.stderr
    foreign = [
        line
        for line in again.stderr.splitlines()
        if not line.startswith("rebalance: ") and "incubator modules" not in line
    ]
    assert foreign == [], foreign  # Spark's start-up chatter is gone
    assert again.stdout == first.stdout  # the same plan
    # A start that asks for Delta alone finds no list of its own in this cache: it resolves
    # Delta's JARs itself and never loads the files noted for the request with the package.
    with pytest.MonkeyPatch.context() as cache:
        cache.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        assert cached_jars([delta_package()]) == []
        assert cached_jars([delta_package(), EXTRA_PACKAGE]) == jars.split()

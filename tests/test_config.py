"""Typed configuration: defaults documented in conf/default.yaml, strict keys, CLI precedence."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

import rebalance_lib
from rebalance_lib.api import resolve_options
from rebalance_lib.cli import build_parser, config_from_args, main
from rebalance_lib.config import RebalanceConfig, load_config
from rebalance_lib.core.errors import ConfigError, PlanError
from rebalance_lib.storage.session import remote_url

DEFAULT_YAML = Path(__file__).parents[1] / "conf" / "default.yaml"


def test_default_yaml_documents_exactly_the_model_defaults() -> None:
    assert load_config(DEFAULT_YAML) == RebalanceConfig()


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("target:\n  facter: 20\n")
    with pytest.raises(ConfigError, match=r"unknown key 'target.facter'"):
        load_config(config_file)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"'batch_size' .*got 'lots'"):
        load_config(config_file)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_command_line_overrides_the_file_and_a_target_flag_replaces_the_files_target(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "job.yaml"
    config_file.write_text("target:\n  factor: 20\nsample:\n  seed: 1\nbatch_size: 64\n")
    args = build_parser().parse_args(
        [
            "run",
            "--config",
            str(config_file),
            "--target-ratio",
            "5",
            "--seed",
            "9",
            "--set",
            "spark.conf.spark.sql.shuffle.partitions=8",
        ]
    )
    config = config_from_args(args)
    assert config.target.factor is None
    assert config.target.target_ratio == 5
    assert config.sample.seed == 9
    assert config.batch_size == 64
    assert config.spark.conf == {"spark.sql.shuffle.partitions": "8"}


def test_two_targets_in_a_file_are_refused_when_planning(tmp_path: Path) -> None:
    config_file = tmp_path / "job.yaml"
    config_file.write_text("target:\n  factor: 20\n  target_ratio: 5\n")
    with pytest.raises(PlanError, match="exactly one target"):
        resolve_options(load_config(config_file).rebalance_options())


def test_version_names_rebalance_and_the_spark_and_delta_it_runs_with(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (
        f"spark-rebalance {version('spark-rebalance')} (pyspark {version('pyspark')}, "
        "Delta JAR io.delta:delta-spark_4.2_2.13:4.4.0)"
    )


def test_the_version_is_the_distributions_own() -> None:
    assert rebalance_lib.__version__ == version("spark-rebalance")


def test_delta_package_names_the_jar_for_a_spark_version_and_refuses_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["delta-package", "--spark-version", "4.2.1"]) == 0
    assert capsys.readouterr().out == "io.delta:delta-spark_4.2_2.13:4.4.0\n"
    assert main(["delta-package", "--spark-version", "3.5.3"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "rebalance: error: Spark 3.5.3 has no Delta JAR in rebalance's table (supported: Spark "
        "4.2): install a supported pyspark, or name Delta's JAR yourself with "
        "spark.jars.packages=io.delta:delta-spark_<spark minor>_2.13:<delta version>"
    ]


def test_remote_names_a_connect_server_and_spark_remote_is_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = build_parser().parse_args(["run", "--remote", "sc://spark-host:15002"])
    assert config_from_args(args).spark.remote == "sc://spark-host:15002"
    monkeypatch.setenv("SPARK_REMOTE", "sc://from-env:15002")
    assert remote_url(None) == "sc://from-env:15002"
    assert remote_url("sc://flag:1") == "sc://flag:1"
    monkeypatch.delenv("SPARK_REMOTE")
    assert remote_url(None) is None

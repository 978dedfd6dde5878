"""MLflow gets the run, through a real tracking server in its own process: the CLI's run (by
MLflow's environment variables), the API's write inside an active run, a cross-validated
fit's nested runs; nothing imported or sent unless configured; a server that is down costs
one warning line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pyspark.sql.functions as F
import pytest
from conftest import labelled_df, write_delta
from connect_server import free_port
from mlflow_server import MlflowServer
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import array_to_vector
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import SparkSession

from rebalance_lib.cli import main
from rebalance_lib.ml import RebalancedEstimator

pytestmark = pytest.mark.jvm

ROWS, MINORITY_ROWS = 20_000, 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    started = MlflowServer.start(tmp_path_factory.mktemp("mlflow-server"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def source(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    rows_df = labelled_df(spark, ROWS, MINORITY_ROWS)
    return write_delta(rows_df, tmp_path_factory.mktemp("mlflow") / "in")


@pytest.fixture
def tracked(server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    """MLflow configured as a scheduler would: its own environment variables only."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    return server


def client(server: MlflowServer):  # type: ignore[no-untyped-def]  # MlflowClient
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server.url)


def test_a_cli_run_logs_its_request_figures_report_and_table(
    tracked: MlflowServer,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "fraud-rebalance")
    output = str(tmp_path / "out")
    run_args = ["run", "--input", source, "--output", output, "--factor", "5", "--seed", "3"]
    assert main([*run_args, "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith("rebalance: output")  # no MLflow links
    mlflow_client = client(tracked)
    experiment = mlflow_client.get_experiment_by_name("fraud-rebalance")
    [run] = mlflow_client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    report = json.loads((Path(output) / "_rebalance_report" / "report.json").read_text())
    params = run.data.params
    assert params["rebalance.target_form"] == "factor"
    assert params["rebalance.target_value"] == "5.0"
    assert params["rebalance.seed"] == "3"
    assert params["rebalance.sampler"] == "sampleBy"
    assert params["rebalance.label"] == "label"
    assert params["rebalance.minority"] == "1"
    assert params["rebalance.weight_col"] == "weight"
    assert params["rebalance.batch_size"] == "128"
    metrics = run.data.metrics
    by_label = {str(c["label"]): c for c in report["classes"]}
    assert (
        metrics["rebalance.rows_before.0"] == by_label["0"]["rows_before"] == ROWS - MINORITY_ROWS
    )
    assert metrics["rebalance.rows_after.0"] == by_label["0"]["rows_after"]
    assert metrics["rebalance.rows_after.1"] == MINORITY_ROWS
    assert metrics["rebalance.minority_per_batch_after"] == pytest.approx(
        report["batch"]["minority_per_batch_after"]
    )
    assert metrics["rebalance.bias_check.passed"] == 1.0
    assert "rebalance.bias_check.label_mean_deviation" in metrics
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "rebalance")}
    assert artifacts == {
        "rebalance/report.json",
        "rebalance/report.md",
        "rebalance/class_counts.svg",
    }
    logged = Path(mlflow_client.download_artifacts(run.info.run_id, "rebalance/report.json"))
    assert json.loads(logged.read_text()) == report
    [dataset_input] = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.source_type == "delta_table"
    # MLflow leaves a version of 0 out of a Delta source (it tests the version for truth):
    # the dataset's name carries it too.
    assert json.loads(dataset.source) == {"path": output}
    assert dataset.name == f"{output}@v0"
    assert json.loads(dataset.profile) == {"num_rows": report["output"]["rows"]}
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"


def test_mlflow_run_id_continues_a_training_jobs_run(
    tracked: MlflowServer, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mlflow_client = client(tracked)
    training = mlflow_client.create_run(mlflow_client.create_experiment("training-job"))
    monkeypatch.setenv("MLFLOW_RUN_ID", training.info.run_id)
    assert main(["run", "--input", source, "--output", str(tmp_path / "out"), "--factor", "5"]) == 0
    run = mlflow_client.get_run(training.info.run_id)
    assert run.data.params["rebalance.target"].startswith("factor 5")
    assert run.info.status == "RUNNING"  # the training job's to end, not ours


def test_a_server_that_is_down_costs_one_warning_line_never_the_run(
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own: no backoff
    output = tmp_path / "out"
    assert main(["run", "--input", source, "--output", str(output), "--factor", "5"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "MLflow" in line]
    assert len(said) == 1 and said[0].startswith("rebalance: could not start an MLflow run: ")
    assert (output / "_rebalance_report" / "report.json").is_file()


def test_without_mlflow_configured_nothing_is_imported(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in [name for name in sys.modules if name.partition(".")[0] == "mlflow"]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["run", "--input", source, "--output", str(tmp_path / "out"), "--factor", "5"]) == 0
    assert not [name for name in sys.modules if name.partition(".")[0] == "mlflow"]


def test_an_api_write_inside_an_active_run_logs_into_it(
    tracked: MlflowServer, spark: SparkSession, source: str, tmp_path: Path
) -> None:
    import mlflow

    from rebalance_lib import rebalance

    output = str(tmp_path / "out")
    rebalance(spark.read.format("delta").load(source), factor=4).write(output)
    with mlflow.start_run() as active:
        out = rebalance(spark.read.format("delta").load(source), factor=4, seed=9)
        written = out.write(output, mode="overwrite")
    run = client(tracked).get_run(active.info.run_id)
    assert run.data.params["rebalance.seed"] == "9"
    assert run.data.metrics["rebalance.factor"] == 4.0
    [dataset_input] = run.inputs.dataset_inputs
    assert json.loads(dataset_input.dataset.source) == {
        "path": output,
        "delta_table_version": written.delta_version,
    }
    assert written.delta_version == 2  # after the first run's data and lineage commits
    with mlflow.start_run(run_id=active.info.run_id):  # a second write into the same run
        rebalance(spark.read.format("delta").load(source), factor=6).write(str(tmp_path / "b"))
    [second] = client(tracked).search_runs(
        [active.info.experiment_id], f"tags.mlflow.parentRunId = '{active.info.run_id}'"
    )
    assert second.data.params["rebalance.target"].startswith("factor 6")
    assert client(tracked).get_run(active.info.run_id).data.params["rebalance.seed"] == "9"


def test_a_cross_validated_fit_in_an_active_run_nests_one_run_per_fit(
    tracked: MlflowServer, spark: SparkSession
) -> None:
    import mlflow

    events_df = (
        labelled_df(spark, ROWS, MINORITY_ROWS)
        .withColumn("features", array_to_vector(F.array("x")))
        .cache()
    )
    estimator = RebalancedEstimator(estimator=LogisticRegression(maxIter=5), factor=5.0)
    grid = ParamGridBuilder().addGrid(estimator.factor, [5.0, 10.0]).build()
    validator = CrossValidator(
        estimator=estimator,
        estimatorParamMaps=grid,
        evaluator=BinaryClassificationEvaluator(),
        numFolds=2,
        parallelism=2,
        seed=1,
    )
    with mlflow.start_run() as parent:
        validator.fit(events_df)
    events_df.unpersist()
    nested = client(tracked).search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    # Two folds by two factors, then the best factor on every row.
    assert len(nested) == 2 * 2 + 1
    assert sorted(r.data.params["rebalance.factor"] for r in nested).count("5.0") >= 2
    assert all(r.info.status == "FINISHED" for r in nested)
    # Each fit's plan counts its own training rows: a fold's about half, the last fit all.
    minority_rows = sorted(r.data.metrics["rebalance.rows_before.1"] for r in nested)
    assert 0 < minority_rows[0] < MINORITY_ROWS and minority_rows[-1] == MINORITY_ROWS

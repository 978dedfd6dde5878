"""A run's request, figures, report and written table, logged to MLflow, configured by MLflow's
own means and nothing else.

In the API: the run active in the calling thread, looked for only when ``mlflow`` is already
imported (a training script's ``mlflow.start_run()``). In the CLI and the job:
``MLFLOW_TRACKING_URI``, with ``MLFLOW_EXPERIMENT_NAME`` (or ``MLFLOW_EXPERIMENT_ID``) or
``MLFLOW_RUN_ID`` to continue a training job's run. Otherwise nothing is imported and nothing
sent. A tracking server that cannot be reached costs one warning line, never the run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from contextvars import ContextVar
from typing import Any

from pyspark.sql import SparkSession

from rebalance_lib.core.plan import Plan
from rebalance_lib.core.targets import Label, TargetRequest
from rebalance_lib.report.files import report_texts
from rebalance_lib.report.model import Report, shown_classes

log = logging.getLogger(__name__)

PREFIX = "rebalance."
ARTIFACT_DIR = "rebalance"
# MLflow keeps letters, digits and ``_-. /`` in a metric's or param's name (250 characters at
# most), and a param's value to 6,000 characters; ``/`` is left out of names built from data.
_UNNAMEABLE = re.compile(r"[^0-9A-Za-z_\-. ]")
_MAX_NAME = 200
_MAX_VALUE = 6000
_PRINTING = threading.Lock()


# The run the CLI or the job opened from MLflow's environment variables, for this context.
_door_run: ContextVar[str | None] = ContextVar("rebalance_mlflow_door_run", default=None)


def active_run_id() -> str | None:
    """The MLflow run to log into: the one the CLI or the job opened, else the run active in
    this thread when the caller has imported ``mlflow``."""
    door_run = _door_run.get()
    if door_run is not None:
        return door_run
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    run = mlflow.active_run()
    return str(run.info.run_id) if run is not None else None


@contextmanager
def environment_run(run_name: str, environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """For the CLI and the job: with ``MLFLOW_TRACKING_URI`` set, the run logged into inside:
    the one ``MLFLOW_RUN_ID`` names (continued, left running for the job that owns it), or a
    new run in ``MLFLOW_EXPERIMENT_NAME`` (created if new) or ``MLFLOW_EXPERIMENT_ID``, ended
    as finished or failed with the block. Without it, nothing is imported."""
    if not environ.get("MLFLOW_TRACKING_URI"):
        yield
        return
    continued = environ.get("MLFLOW_RUN_ID")
    client, run_id = None, None
    try:
        client = _client()
        if continued:
            run_id = str(client.get_run(continued).info.run_id)
        else:
            experiment_id = _experiment_id(client, environ)
            run_id = str(client.create_run(experiment_id, run_name=run_name).info.run_id)
    except Exception as error:  # the run goes on without its MLflow record
        _warn("could not start an MLflow run", error)
    if client is None or run_id is None:
        yield
        return
    token = _door_run.set(run_id)
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    finally:
        _door_run.reset(token)
        if not continued:
            _end_run(client, run_id, status, logging.INFO)


def _experiment_id(client: Any, environ: Mapping[str, str]) -> str:
    """The experiment MLflow's variables name: by name (created when new), by id, else
    MLflow's default experiment."""
    name = environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        experiment = client.get_experiment_by_name(name)
        return str(experiment.experiment_id if experiment else client.create_experiment(name))
    return environ.get("MLFLOW_EXPERIMENT_ID") or "0"


def log_written(
    spark: SparkSession,
    run_id: str,
    report: Report,
    *,
    table: str,
    table_is_named: bool,
    request: TargetRequest,
    label_col: str,
    weight_col: str,
) -> None:
    """Log a written run to MLflow run ``run_id``: the request as params, the figures as
    metrics, the report's files as artifacts and the table as the run's dataset input.

    A run that holds an earlier write's record already (a loop of writes in one run, a
    training job's run continued twice) gets this one as a run nested in it: MLflow never
    changes a logged param, and each write keeps a whole record of its own.
    """
    try:
        client = _client()
        target_run = run_id
        existing = client.get_run(run_id)
        if any(key.startswith(PREFIX) for key in existing.data.params):
            target_run = _nested_run(client, existing, f"rebalance write ({table})")
        params = _request_params(report, request, label_col, weight_col)
        client.log_batch(target_run, metrics=_metrics(report), params=_params(params))
        for name, text in report_texts(report).items():
            client.log_text(target_run, text, f"{ARTIFACT_DIR}/{name}")
        client.log_inputs(target_run, [_dataset_input(spark, report, table, table_is_named)])
        if target_run != run_id:
            _end_run(client, target_run, "FINISHED", logging.DEBUG)
    except Exception as error:  # the table is written; only its record is lost
        _warn(f"could not log the run to MLflow run {run_id}", error)


def log_fit(parent_run_id: str, plan: Plan, request: Mapping[str, Any]) -> None:
    """One fit's plan as a run nested in ``parent_run_id``: the request as params, the plan's
    counts as metrics. Called from any thread: the parent is passed, never looked up."""
    try:
        client = _client()
        child = _nested_run(
            client, client.get_run(parent_run_id), f"rebalance fit ({plan.request.brief()})"
        )
    except Exception as error:  # the model is fitted; only its record is lost
        _warn(f"could not log the fit to MLflow under run {parent_run_id}", error)
        return
    status = "FAILED"
    try:
        metrics = {
            "factor": plan.factor,
            "minority_per_batch_before": plan.minority_per_batch_before,
            "minority_per_batch_after": plan.minority_per_batch_after,
        }
        for item in plan.classes:
            metrics[f"rows_before.{_name(item.label)}"] = item.rows_before
            metrics[f"expected_rows_after.{_name(item.label)}"] = item.expected_rows_after
        client.log_batch(child, metrics=_metric_list(metrics), params=_params(request))
        status = "FINISHED"
    except Exception as error:
        _warn(f"could not log the fit to MLflow run {child}", error)
    finally:
        _end_run(client, child, status, logging.DEBUG)


def _client() -> Any:
    """MLflow's client, as MLflow's own settings configure it (imported here, when used)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _nested_run(client: Any, parent: Any, run_name: str) -> str:
    child = client.create_run(
        parent.info.experiment_id,
        tags={"mlflow.parentRunId": parent.info.run_id},
        run_name=run_name[:_MAX_NAME],
    )
    return str(child.info.run_id)


def _end_run(client: Any, run_id: str, status: str, level: int) -> None:
    """End a run we started, its links (which MLflow prints on standard output, where the
    CLI's results and a scheduler's JSON lines go) logged at ``level`` instead. Output is
    redirected process-wide, so one thread at a time."""
    printed = io.StringIO()
    try:
        with _PRINTING, redirect_stdout(printed):
            client.set_terminated(run_id, status)
    except Exception as error:
        _warn(f"could not end MLflow run {run_id}", error)
    for line in printed.getvalue().splitlines():
        log.log(level, "MLflow: %s", line.strip())


def _request_params(
    report: Report, request: TargetRequest, label_col: str, weight_col: str
) -> dict[str, Any]:
    stated = report.request
    value = request.per_class
    return {
        "target": stated.said,
        "target_form": request.form,
        "target_value": (
            ",".join(f"{label}={target:g}" for label, target in value)
            if value is not None
            else getattr(request, request.form)
        ),
        "seed": stated.seed,
        "sampler": stated.sampler,
        "sample_key": ",".join(stated.sample_key),
        "exact": stated.exact,
        "label": label_col,
        "minority": report.batch.minority_label,
        "weight_col": weight_col,
        "batch_size": stated.batch_size,
    }


def _metrics(report: Report) -> list[Any]:
    shown, _ = shown_classes(report)
    bias = report.bias_check
    metrics: dict[str, float] = {
        "factor": report.factor,
        "rows_before": report.source.rows,
        "rows_after": report.output.rows,
        "minority_per_batch_before": report.batch.minority_per_batch_before,
        "minority_per_batch_after": report.batch.minority_per_batch_after,
        "bias_check.passed": float(bias.passed),
        "checks_passed": float(report.checks_passed),
    }
    minority = str(report.batch.minority_label)
    if minority in bias.share_before:
        metrics["bias_check.minority_share_deviation"] = abs(
            bias.weighted_share_after.get(minority, 0.0) - bias.share_before[minority]
        )
        metrics["bias_check.minority_share_tolerance"] = bias.share_tolerance[minority]
    if bias.label_mean_before is not None and bias.weighted_label_mean_after is not None:
        metrics["bias_check.label_mean_deviation"] = abs(
            bias.weighted_label_mean_after - bias.label_mean_before
        )
    for item in shown:
        metrics[f"rows_before.{_name(item.label)}"] = item.rows_before
        metrics[f"rows_after.{_name(item.label)}"] = item.rows_after
    return _metric_list(metrics)


def _metric_list(metrics: Mapping[str, float]) -> list[Any]:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(PREFIX + key, float(value), now, 0) for key, value in metrics.items()]


def _params(params: Mapping[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(PREFIX + _name(key), str(value)[:_MAX_VALUE]) for key, value in params.items()]


def _dataset_input(spark: SparkSession, report: Report, table: str, table_is_named: bool) -> Any:
    """The written table at the version written, as MLflow's Spark dataset with a Delta source.

    Built from its parts rather than by ``mlflow.data.from_spark``, whose profile counts the
    rows with Python on the executors and whose Delta check sees local disks only: the profile
    is the report's row count, the digest the table and version's.
    """
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.spark_dataset import SparkDataset
    from mlflow.entities import DatasetInput, InputTag

    rows = report.output.rows

    class WrittenTable(SparkDataset):
        @property
        def profile(self) -> dict[str, int]:
            return {"num_rows": rows}

    version = report.output.delta_version
    reader = spark.read.format("delta").option("versionAsOf", version)
    table_df = reader.table(table) if table_is_named else reader.load(table)
    location = {"delta_table_name": table} if table_is_named else {"path": table}
    dataset = WrittenTable(
        df=table_df,
        source=DeltaDatasetSource(delta_table_version=version, **location),
        name=f"{table}@v{version}",
        digest=hashlib.sha256(f"{table}@{version}".encode()).hexdigest()[:8],
    )
    return DatasetInput(
        dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "training")]
    )


def _name(value: Label | str) -> str:
    """A label or option as part of a metric's or param's name: what MLflow refuses there
    (and ``/``, which MLflow reads as a path) made ``_``, and short enough for a key."""
    return _UNNAMEABLE.sub("_", str(value))[:_MAX_NAME]


def _warn(what: str, error: Exception) -> None:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    log.warning("%s: %s (the run goes on without it)", what, reason)

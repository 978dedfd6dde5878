"""Command line: arguments -> config -> the API; errors -> one line on stderr and an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyspark
import yaml
from pyspark.sql import SparkSession

from rebalance_lib.api import Rebalanced, Written, rebalance_table
from rebalance_lib.config import RebalanceConfig, load_config, parse_override
from rebalance_lib.core import versions
from rebalance_lib.core.errors import ChecksFailedError, ConfigError, NothingToDo, RebalanceError
from rebalance_lib.core.options import LABEL_COL, WEIGHT_COL
from rebalance_lib.core.plan import DEFAULT_BATCH_SIZE, describe_plan
from rebalance_lib.core.tables import Table
from rebalance_lib.core.targets import TARGET_FORMS
from rebalance_lib.demo import ensure_demo_input
from rebalance_lib.interrupts import EXIT_CODES, Progress, Stopping, Terminated
from rebalance_lib.report import escape
from rebalance_lib.report.files import read_report
from rebalance_lib.report.markdown import to_markdown
from rebalance_lib.runs.mlflow_run import environment_run
from rebalance_lib.storage import fs, lineage
from rebalance_lib.storage.failures import unknown_failure
from rebalance_lib.storage.jobs import described
from rebalance_lib.storage.session import build_session, s3a_package, warm_jar_cache

log = logging.getLogger("rebalance")


@dataclass(frozen=True)
class Flag:
    """One command-line option that sets one config key: its flag, key and help, spelled once."""

    flag: str
    key: str  # the dotted config key it overrides
    help: str | None = None
    _: KW_ONLY
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    switch: bool = False  # given or not: True, else None (the config decides)
    target: bool = False  # states the whole target: at most one such flag is given

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


def _names(text: str) -> list[str]:
    return [name for name in text.split(",") if name.strip()]


def _columns(text: str) -> list[str]:
    return text.split(",")


def _partition_values(text: str) -> dict[str, str]:
    """``ds=2026-11-23,country=fr`` -> ``{"ds": "2026-11-23", "country": "fr"}``."""
    values = {}
    for pair in text.split(","):
        column, equals, value = pair.partition("=")
        if not equals or not column.strip() or not value:
            raise argparse.ArgumentTypeError(f"write it as COLUMN=VALUE (got {pair!r})")
        values[column.strip()] = value
    return values


def _factor_list(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"factors are numbers separated by commas, e.g. 5,10,20 (got {text!r})"
        ) from None


def _per_class(value_said: str, example: str) -> Callable[[str], dict[Any, float]]:
    """A parser of LABEL=NUMBER pairs separated by commas; labels are read as YAML reads
    them (0, 1.0, true, fraud), then matched to the input's labels by their text."""

    def parse(text: str) -> dict[Any, float]:
        pairs: dict[Any, float] = {}
        for item in filter(str.strip, text.split(",")):
            label_text, _, number = item.rpartition("=")
            try:
                pairs[yaml.safe_load(label_text)] = float(number)
            except (ValueError, yaml.YAMLError):
                label_text = ""
            if not label_text.strip():
                raise argparse.ArgumentTypeError(
                    f"name each class as LABEL={value_said.upper()}, separated by commas, "
                    f"e.g. {example} (got {text!r})"
                )
        return pairs

    return parse


def _label_list(text: str) -> list[Any]:
    return [yaml.safe_load(item) for item in text.split(",") if item.strip()]


# The options every command takes that set a config key (the others are the commands' own).
SESSION_FLAGS = (
    Flag("--master", "spark.master", "Spark master for local runs (ignored under spark-submit)"),
    Flag(
        "--remote",
        "spark.remote",
        "run on a Spark Connect server (default: SPARK_REMOTE, if set); --master is ignored",
        metavar="sc://HOST:PORT",
    ),
)
# What `plan` takes, in the order --help lists it. A sweep (--factors) needs the hash
# sampler, so plan takes the sampler's flags too.
PLAN_FLAGS = (
    Flag("--input", "input.source", "Delta path, Parquet path, or catalog table name"),
    Flag("--input-format", "input.format", choices=("delta", "parquet", "table")),
    Flag("--input-version", "input.version", "Delta version to read (default latest)", type=int),
    Flag("--label", "label.column", f"label column (default: {LABEL_COL})"),
    Flag("--minority", "label.minority", "label value to protect (default: least frequent)"),
    Flag("--null-labels", "label.null_labels", choices=("error", "drop")),
    Flag(
        "--classes",
        "label.classes",
        "every label value, comma-separated (needed by --one-pass), e.g. 0,1",
        type=_label_list,
    ),
    Flag("--input-weight-col", "weight.input_column", "existing example-weight column to scale"),
    Flag(
        "--strata",
        "sample.strata",
        "plan within each combination of these columns, e.g. label,country",
        type=_names,
    ),
    Flag("--split-col", "split.column", "split column: only training rows are rebalanced"),
    Flag("--train-value", "split.train_value", "value of --split-col marking training rows"),
    Flag(
        "--batch-size",
        "batch_size",
        f"training batch size for the advice (default {DEFAULT_BATCH_SIZE})",
        type=int,
    ),
    Flag("--seed", "sample.seed", type=int),
    Flag("--sampler", "sample.method", choices=("sampleBy", "hash")),
    Flag("--sample-key", "sample.key", "key columns for --sampler hash", type=_columns),
    Flag(
        "--factor",
        "target.factor",
        "divide the majority by F (weight x F)",
        type=float,
        target=True,
    ),
    Flag(
        "--target-ratio",
        "target.target_ratio",
        "output majority:minority ratio R:1",
        type=float,
        target=True,
    ),
    Flag(
        "--target-minority-share",
        "target.target_minority_share",
        "output minority share S (0-0.5)",
        type=float,
        target=True,
    ),
    Flag(
        "--min-minority-per-batch",
        "target.min_minority_per_batch",
        "at least K minority rows per batch",
        type=int,
        target=True,
    ),
    Flag("--max-rows", "target.max_rows", "at most N output rows", type=int, target=True),
    Flag(
        "--class-targets",
        "target.class_targets",
        "rows to keep per named class, e.g. 0=100000,2=5000 (others kept whole)",
        type=_per_class("rows", "0=100000,2=5000"),
        target=True,
    ),
    Flag(
        "--class-factors",
        "target.class_factors",
        "a factor per named class, e.g. 0=20,2=5 (others kept whole)",
        type=_per_class("factor", "0=20,2=5"),
        target=True,
    ),
    Flag(
        "--factors",
        "sample.factors",
        "a sweep, e.g. 5,10,20,50 (--sampler hash): one table at the smallest factor, "
        "any larger one selected exactly by its rebalance_draw column",
        type=_factor_list,
        target=True,
    ),
)
# What `run` and `demo` take beyond `plan`'s, in the order --help lists it.
RUN_FLAGS = (
    Flag(
        "--output",
        "output.path",
        "output Delta path, or table:DB.NAME for a Delta table in the catalog",
    ),
    Flag("--mode", "output.mode", choices=("error", "overwrite", "append")),
    Flag(
        "--report-dir",
        "output.report_dir",
        f"report folder (default OUTPUT/{lineage.REPORT_DIR_NAME})",
    ),
    Flag("--run-id", "output.run_id", "idempotence key: a repeated run id appends nothing"),
    Flag(
        "--incremental",
        "output.incremental",
        "append only the source rows added since the last run (hash sampler)",
        switch=True,
    ),
    Flag(
        "--partition-by",
        "output.partition_by",
        "output partition columns (default: the Delta input's layout; '' for none)",
        type=_names,
    ),
    Flag(
        "--cluster-by",
        "output.cluster_by",
        "output liquid clustering columns (default: the Delta input's layout)",
        type=_names,
    ),
    Flag(
        "--row-order",
        "output.row_order",
        "the written rows' order: shuffled (default; any batch of consecutive rows holds "
        "a random share of each class) or input (as read)",
        choices=("shuffled", "input"),
    ),
    Flag(
        "--into-partition",
        "output.into_partition",
        "write every row into this partition (new columns, e.g. ds=2026-11-23); "
        "--mode overwrite then replaces that partition only",
        type=_partition_values,
        metavar="COL=VALUE[,COL=VALUE]",
    ),
    Flag("--weight-col", "weight.column", f"output weight column (default: {WEIGHT_COL})"),
    Flag(
        "--exact",
        "sample.exact",
        "keep exactly the planned rows of each downsampled class or stratum",
        switch=True,
    ),
    Flag(
        "--weight-basis",
        "weight.basis",
        "weight x F (nominal) or x rows before / rows kept (realized, needs --exact)",
        choices=("nominal", "realized"),
    ),
    Flag(
        "--one-pass",
        "sample.one_pass",
        "read the input once (with --factor, --minority, --classes): counts are observed "
        "during the write and bad rows fail it",
        switch=True,
    ),
)
_FLAGS = (*SESSION_FLAGS, *PLAN_FLAGS, *RUN_FLAGS)
# Command-line flag (argparse dest) -> dotted config key.
FLAG_KEYS = {flag.dest: flag.key for flag in _FLAGS}
# Flags that each state the whole target: one given replaces every target of the file.
_TARGET_FLAGS = {flag.dest for flag in _FLAGS if flag.target}
_PY4J_MODULES = ("py4j/java_gateway.py", "py4j/clientserver.py", "py4j/protocol.py")
# API parameters whose flag is not simply --name-with-dashes.
_FLAG_OF_PARAMETER = {
    "source": "--input",
    "version": "--input-version",
    "path": "--output",
    "incremental_into": "--incremental",
}


def _add_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag]) -> None:
    """Each flag as an argparse option; the target flags in one mutually exclusive group."""
    targets = None
    for flag in flags:
        options: dict[str, Any] = {"help": flag.help}
        if flag.switch:
            options.update(action="store_true", default=None)
        if flag.type is not None:
            options["type"] = flag.type
        if flag.choices:
            options["choices"] = list(flag.choices)
        if flag.metavar is not None:
            options["metavar"] = flag.metavar
        if flag.target:
            targets = targets or parser.add_mutually_exclusive_group()
            targets.add_argument(flag.flag, **options)
        else:
            parser.add_argument(flag.flag, **options)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config file (see conf/default.yaml)")
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set spark.conf.spark.sql.shuffle.partitions=64",
    )
    _add_flags(common, SESSION_FLAGS)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and full tracebacks"
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines and no report page: only the result line and errors",
    )
    common.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="json: every line a JSON object (time, level, message), for schedulers; the "
        "report page is left to the report files",
    )
    planning = argparse.ArgumentParser(add_help=False, parents=[common])
    _add_flags(planning, PLAN_FLAGS)
    running = argparse.ArgumentParser(add_help=False, parents=[planning])
    _add_flags(running, RUN_FLAGS)

    # Raw: the version line is printed whole, not wrapped to the terminal's width.
    parser = argparse.ArgumentParser(
        prog="rebalance", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=_versions())
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser(
        "plan", parents=[planning], help="count classes and print the plan; writes nothing"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    commands.add_parser(
        "run", parents=[running], help="rebalance into a Delta table and write the report"
    )
    demo = commands.add_parser(
        "demo", parents=[running], help="generate a demo table and rebalance it"
    )
    demo.add_argument(
        "--workdir", default=".rebalance-demo", help="where the demo input and output go"
    )
    demo.add_argument("--rows", type=int, default=2_000_000)
    demo.add_argument("--positive-share", type=float, default=0.005)
    report = commands.add_parser(
        "report", parents=[common], help="re-print the report and lineage of an existing output"
    )
    report.add_argument("--output", required=True, help="the output Delta path of a run")
    report.add_argument("--report-dir", help="where the report was written, if not the default")
    delta = commands.add_parser(
        "delta-package",
        parents=[common],
        help="print the Maven coordinate of Delta's JAR for a Spark version (spark-submit "
        "--packages)",
    )
    delta.add_argument(
        "--spark-version",
        default=pyspark.__version__,
        help="the cluster's Spark (default: the pyspark installed here)",
    )
    warm = commands.add_parser(
        "warm-jars", parents=[common], help="fetch Delta's JARs into the local Ivy cache"
    )
    warm.add_argument("--log", default=".venv/warm-jars.log", help="where Ivy's output goes")
    warm.add_argument(
        "--s3a",
        action="store_true",
        help="also S3A's JARs (s3a:// paths): hadoop-aws for the Hadoop inside this Spark",
    )
    return parser


def _versions() -> str:
    """``spark-rebalance 0.2.0 (pyspark 4.2.0, Delta JAR io.delta:...:4.4.0)``: what a bug
    report needs, read from the modules themselves, so a pyspark that came with Spark (no
    package metadata) answers too."""
    delta = versions.delta_package(pyspark.__version__) or "none known for this Spark"
    return (
        f"{versions.DISTRIBUTION} {versions.VERSION} "
        f"(pyspark {pyspark.__version__}, Delta JAR {delta})"
    )


def _delta_package(spark_version: str) -> str:
    package = versions.delta_package(spark_version)
    if package is None:
        raise ConfigError(versions.no_delta_for(spark_version))
    return package


def config_from_args(args: argparse.Namespace) -> RebalanceConfig:
    """YAML file, then ``--set``, then named flags; a target flag replaces the file's target."""
    overrides: dict[str, Any] = dict(parse_override(item) for item in args.set)
    given = {
        dest: getattr(args, dest) for dest in FLAG_KEYS if getattr(args, dest, None) is not None
    }
    if any(dest in _TARGET_FLAGS for dest in given):
        overrides.update({FLAG_KEYS[dest]: None for dest in _TARGET_FLAGS})
    overrides.update({FLAG_KEYS[dest]: value for dest, value in given.items()})
    return load_config(args.config, overrides)


def flag_setting(parameter: str, value: Any) -> str:
    """How the command line names an API parameter and its value: ``--null-labels drop``."""
    flag = _FLAG_OF_PARAMETER.get(parameter, "--" + parameter.replace("_", "-"))
    if value is None or value is True:
        return flag
    if value is False:
        return f"leave out {flag}"
    if isinstance(value, list | tuple):
        return f"{flag} {','.join(map(str, value))}"
    if isinstance(value, Mapping):
        return f"{flag} {','.join(f'{key}={item:g}' for key, item in value.items())}"
    return f"{flag} {value}"


def _without_py4j(record: logging.LogRecord) -> bool:
    return not record.pathname.endswith(_PY4J_MODULES)


class JsonLines(logging.Formatter):
    """One JSON object per line: what log collectors of schedulers parse."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["trace"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextLines(logging.Formatter):
    """``rebalance: message``, one line whatever the message holds, its trace (``-v``) on the
    lines after: no control character of the data reaches the terminal."""

    def __init__(self) -> None:
        super().__init__("rebalance: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  # logging names it
        return escape.one_line(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802  # logging names it
        return escape.console(super().formatException(ei))


@dataclass(frozen=True)
class Console:
    """Where the command's own lines go: progress and errors on stderr through logging, the
    result line and the report page on stdout, as text or JSON lines."""

    log_format: str = "text"
    quiet: bool = False

    def result(self, message: str) -> None:
        """The one line that says what the command did: always printed."""
        record = logging.LogRecord("rebalance", logging.INFO, "", 0, message, None, None)
        formatter = JsonLines() if self.log_format == "json" else TextLines()
        print(formatter.format(record), flush=True)

    def page(self, text: str) -> None:
        """A page for people (the report after a run): left out when quiet or logging JSON."""
        if not self.quiet and self.log_format == "text":
            self.show(text)

    def show(self, text: str) -> None:
        """What the command was asked for (a report, a plan): always printed."""
        print(escape.console(text))


def _configure_logging(args: argparse.Namespace) -> None:
    """Our lines on stderr, as text or JSON; quiet keeps warnings and errors only."""
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonLines() if args.log_format == "json" else TextLines())
        # py4j's own errors reach us as exceptions; its log lines (some sent to the root
        # logger) would only repeat them with a trace.
        if not args.verbose:
            handler.addFilter(_without_py4j)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    console = Console(args.log_format, args.quiet)
    progress = Progress()
    stopping = Stopping(progress)
    stopping.install()
    try:
        with stopping.errors_as_stop():
            exit_code = _dispatch(args, progress, stopping, console)
        if stopping.came_too_late():
            log.warning("%s came as the command finished: it is done", stopping.requested)
        return exit_code
    except (KeyboardInterrupt, Terminated) as stop:
        signal_name = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
        log.error("interrupted by %s: %s", signal_name, stopping.said())
        return EXIT_CODES[signal_name]
    except NothingToDo as done:
        console.result(f"{done.render(flag_setting)}; nothing to do")
        return 0
    except RebalanceError as error:
        log.error("error: %s", error.render(flag_setting))
        return error.exit_code
    except Exception as error:
        condition = unknown_failure(error)
        if condition is None or args.verbose:
            raise
        log.error(
            "Spark failed with %s, which rebalance does not know: rerun with -v for Spark's "
            "trace, and report it with the trace",
            condition,
        )
        return 1
    finally:
        stopping.close()


def _dispatch(
    args: argparse.Namespace, progress: Progress, stopping: Stopping, console: Console
) -> int:
    if args.command == "delta-package":
        print(_delta_package(args.spark_version))
        return 0
    if args.command == "warm-jars":
        warm_jar_cache(Path(args.log), [s3a_package()] if args.s3a else [])
        fetched = "Delta's and S3A's JARs are" if args.s3a else "Delta's JARs are"
        console.result(f"{fetched} in the local Ivy cache")
        return 0
    if args.command == "demo":
        args = _demo_defaults(args)
    config = config_from_args(args)
    with stopping.held():
        spark = _session(config, args.command)
        # pyspark's own Ctrl-C handler, put in place as the session started, calls into the
        # JVM on the connection of a call under way, and both print traces.
        stopping.install()
    progress.spark = spark
    if args.command == "report":
        with described(spark, f"read the report of {args.output}"):
            console.show(_report_text(spark, Table.parse(args.output), args.report_dir))
        return 0
    if args.command == "plan":
        opened = _open(spark, config, counted=True)
        plan, sweep = opened.plan, opened.sweep
        if args.json:
            swept = {"sweep": [p.to_dict() for _, p in sweep.plans]} if sweep else {}
            console.show(json.dumps({**plan.to_dict(), **swept}, indent=2))
        else:
            sweep_advice = "\n".join(sweep.advice()) if sweep else ""
            console.show(describe_plan(plan) + ("\n" + sweep_advice if sweep else ""))
        return 0
    if args.command == "demo":
        ensure_demo_input(spark, config.input.source or "", args.rows, args.positive_share)
    config = config.model_copy(
        update={
            "output": config.output.model_copy(
                update={"run_id": config.output.run_id or uuid.uuid4().hex}
            )
        }
    )
    output = Table.parse(config.output.path) if config.output.path is not None else None
    progress.output, progress.run_id = output, config.output.run_id
    with _described_write(spark, config):
        progress.output_is_new = (
            output is not None and not output.in_catalog and not fs.exists(spark, output.where)
        )
    with environment_run(_app_name(config, args.command)):
        written = run_configured(spark, config)
    if written.report is None:
        console.result(
            f"run id {config.output.run_id} already written to {written.path}; nothing to do"
        )
        return 0
    console.page(to_markdown(written.report, calibration=False))
    if not written.report.checks_passed:
        raise ChecksFailedError(
            f"the output was committed (Delta version {written.delta_version}) but its own "
            f"checks failed: see {written.report_dir}/report.md; the data commit stays, marked "
            "FAIL in the report"
        )
    console.result(
        f"output {written.path}: data committed as Delta version {written.delta_version}, "
        f"table at version {written.table_version} with its lineage; report in "
        f"{written.report_dir}"
    )
    return 0


def run_configured(spark: SparkSession, config: RebalanceConfig) -> Written:
    """What `rebalance run` does with a resolved config: ``rebalance_table(...).write(...)``."""
    output = config.output.path
    if output is None:
        raise ConfigError(
            "no output given: name the Delta path (or table:DB.NAME) to write", fix={"path": None}
        )
    # The output is refused before the input is counted, and a retry reads the source version
    # its earlier attempt read: ``write`` sees to both, as it does for every door.
    with _described_write(spark, config):
        return _open(spark, config, counted=False).write(
            output,
            mode=config.output.mode,
            run_id=config.output.run_id,
            report_dir=config.output.report_dir,
            partition_by=config.output.partition_by,
            cluster_by=config.output.cluster_by,
            into_partition=config.output.into_partition,
        )


def _described_write(spark: SparkSession, config: RebalanceConfig) -> AbstractContextManager[None]:
    """The checks before the input is opened are named as the write's own are."""
    return described(spark, f"write {config.output.path} from {config.input.source}")


def _open(spark: SparkSession, config: RebalanceConfig, counted: bool) -> Rebalanced:
    """The configured input through ``rebalance_table``; ``counted`` plans from a full count
    (what `rebalance plan` shows), whatever the run's reading mode."""
    source = config.input.source
    if source is None:
        raise ConfigError(
            "no input given: name a Delta or Parquet path, or a catalog table", fix={"source": None}
        )
    incremental = config.output.incremental and not counted
    return rebalance_table(
        spark,
        source,
        input_format=config.input.format,
        version=config.input.version,
        one_pass=config.sample.one_pass and not counted,
        classes=config.label.classes,
        incremental_into=config.output.path if incremental else None,
        **config.rebalance_options(),
    )


def _report_text(spark: SparkSession, output: Table, report_dir: str | None) -> str:
    history = lineage.rebalance_history(spark, output)
    lines = [
        to_markdown(read_report(spark, output, report_dir)),
        "## Delta history",
        "",
    ]
    lines += [
        f"- version {commit['version']} ({commit['timestamp']}, {commit['operation']}): run "
        f"{escape.markdown_code(commit['run_id'])}, {escape.markdown_text(commit['request'])}, "
        f"source {escape.markdown_text(commit['source'])} @ {commit['source_version']}, "
        f"seed {commit['seed']}"
        for commit in history
    ]
    return "\n".join(lines)


def _demo_defaults(args: argparse.Namespace) -> argparse.Namespace:
    workdir = Path(args.workdir).resolve()
    if args.input is None:
        args.input = str(workdir / "input")
    if args.output is None:
        args.output = str(workdir / "output")
    args.mode = args.mode or "overwrite"
    if not any(getattr(args, form) is not None for form in TARGET_FORMS):
        args.factor = 10.0  # the technique's virus example: 1:200 becomes about 1:20
    return args


def _session(config: RebalanceConfig, command: str) -> SparkSession:
    return build_session(
        config.spark.master,
        config.spark.app_name or _app_name(config, command),
        config.spark.conf,
        config.spark.remote,
    )


def _app_name(config: RebalanceConfig, command: str) -> str:
    """The Spark application named for what runs, as the Spark UI and a history server list it."""
    source, output = config.input.source, config.output.path
    if command == "plan":
        return f"rebalance plan {source}"
    if command == "report":
        return f"rebalance report {output}"
    return f"rebalance {source} -> {output}"


if __name__ == "__main__":
    sys.exit(main())

"""Factor sweeps, the pure part: factors, the rules, the plan of each factor, the advice."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from rebalance_lib.api import resolve_options
from rebalance_lib.cli import build_parser, config_from_args, flag_setting
from rebalance_lib.config import load_config
from rebalance_lib.core.bounds import CHECK_LEVEL
from rebalance_lib.core.checks import ClassOutcome
from rebalance_lib.core.counts import ClassStats
from rebalance_lib.core.errors import ConfigError
from rebalance_lib.core.increment import extendable_run
from rebalance_lib.core.plan import plan_rebalance
from rebalance_lib.core.sweep import SweepPlan, factor_results, sweep_factors
from rebalance_lib.core.targets import TargetRequest

COUNTS = {0: 1_000_000, 1: 10_000}
HASH = {"sampler": "hash", "sample_key": "id"}


def sweep_of(counts: dict[Any, int], factors: tuple[float, ...], **fields: Any) -> SweepPlan:
    return SweepPlan(
        factors=factors,
        class_rows=tuple(counts.items()),
        minority_label=min(counts, key=counts.__getitem__),
        batch_size=128,
        label_column="label",
        weight_column="weight",
        input_weight_column=None,
        **fields,
    )


def test_factors_are_checked_sorted_and_unique() -> None:
    assert sweep_factors([50, 5, 20, 10, 5]) == (5.0, 10.0, 20.0, 50.0)
    for bad in ([], [0.5, 10], [float("inf")], [True], ["10"]):
        with pytest.raises(ConfigError, match="factor"):
            sweep_factors(bad)


def test_a_sweep_is_requested_at_its_smallest_factor_with_the_hash_sampler() -> None:
    options = resolve_options({"factors": [20, 5, 10], **HASH})  # type: ignore[typeddict-item]  # a list is what users pass
    assert options.request == TargetRequest(factor=5.0)
    assert options.sweep_factors == (5.0, 10.0, 20.0)


@pytest.mark.parametrize(
    ("options", "message", "fix"),
    [
        ({"factors": [5, 10]}, "only the hash sampler keeps", "[sampler='hash', sample_key]"),
        (
            {"factors": [5, 10], "target_ratio": 5, **HASH},
            "leave out target_ratio",
            "[target_ratio]",
        ),
        ({"factors": [5, 10], "factor": 5, **HASH}, "leave out factor", "[factor]"),
        ({"factors": [5, 10], "exact": True, **HASH}, "do not nest", "[exact=False]"),
        ({"factors": [5, 10], "strata": ["country"], **HASH}, "per label", "[strata, split_col]"),
        (
            {"factors": [5, 10], "input_weight_col": "w", "weight_col": "w", **HASH},
            "input weight",
            "[weight_col]",
        ),
        ({"factors": [0.5, 10], **HASH}, "at least 1", "[factors]"),
    ],
)
def test_combinations_a_sweep_cannot_keep_are_refused_in_one_line(
    options: dict[str, Any], message: str, fix: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        resolve_options(options)  # type: ignore[arg-type]  # deliberately wrong combinations
    assert "\n" not in str(raised.value) and str(raised.value).endswith(fix)


def test_a_sweep_plans_each_factor_as_a_single_run_would() -> None:
    sweep = sweep_of(COUNTS, (5.0, 10.0, 20.0))
    for factor in (5, 10, 12.5, 20, 50):
        single = plan_rebalance(COUNTS, TargetRequest(factor=factor), minority=1)
        assert sweep.plan_at(factor) == single
    assert sweep.plan_at(20).for_label(0).weight_multiplier == 20.0


def test_a_factor_below_the_smallest_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as raised:
        sweep_of(COUNTS, (5.0, 10.0)).plan_at(4)
    assert str(raised.value) == (
        "factor 4 is below the sweep's smallest factor 5: its table holds only the rows kept at "
        "5 or more; sweep again from a smaller factor [factor]"
    )


def test_multiclass_every_class_above_the_minority_is_divided_by_the_same_capped_factor() -> None:
    sweep = sweep_of({"a": 100_000, "b": 3_000, "c": 1_000}, (2.0, 10.0))
    at_10 = sweep.plan_at(10)
    assert at_10.for_label("a").factor == 10.0
    assert at_10.for_label("b").factor == 3.0  # never below the minority's size, as a single run
    assert at_10.for_label("c").factor == 1.0
    fractions = [sweep.plan_at(f).for_label(label).keep_fraction for f in (2, 10) for label in "ab"]
    assert fractions[2] <= fractions[0] and fractions[3] <= fractions[1]  # nested per class


def test_the_draw_columns_metadata_describes_the_sweep_exactly() -> None:
    sweep = sweep_of({True: 50_000, False: 1_000}, (5.0, 10.0), input_size_bytes=123)
    assert SweepPlan.from_metadata(json.loads(json.dumps(sweep.to_metadata()))) == sweep
    narrowed = sweep.narrowed_to(7.5)
    assert (narrowed.factors, narrowed.class_rows) == ((7.5, 10.0), sweep.class_rows)
    with pytest.raises(ConfigError, match="another version"):
        SweepPlan.from_metadata({**sweep.to_metadata(), "version": 99})


def test_the_advice_names_the_smallest_factor_reaching_the_per_batch_target() -> None:
    # 100:1, batch 128: F=5 gives 6.1 minority rows per batch (>= 5), F=2 gives 2.5.
    advice = sweep_of(COUNTS, (2.0, 5.0, 20.0), input_size_bytes=2**30).advice()
    assert advice[0].startswith("Sweep: F=2: 2.5 per batch, about 510,000 rows; F=5: 6.1")
    assert advice[1].startswith(
        "F=5 is the smallest factor of the sweep with at least 5 minority rows per batch of 128 "
        "(6.1), keeping about 210,000 rows (212.9 MiB)"
    )
    short = sweep_of(COUNTS, (1.5, 2.0)).advice()
    assert short[1].startswith("No factor of the sweep reaches 5 minority rows per batch of 128")


def test_each_factor_is_weighed_from_the_input_weights_times_its_factor() -> None:
    sweep = sweep_of(COUNTS, (5.0, 20.0))
    before = {label: ClassStats.unweighted(rows) for label, rows in COUNTS.items()}
    totals = {5.0: {0: (200_000, 200_000.0), 1: (10_000, 10_000.0)}, 20.0: {0: (50_000, 50_000.0)}}
    at_5, at_20 = factor_results(sweep, before, totals)
    assert at_5.outcomes[0] == ClassOutcome(1_000_000, 1e6, 1e6, 5.0, 200_000, 1_000_000.0)
    assert at_5.passed and at_5.minority_per_batch == pytest.approx(128 * 10_000 / 210_000)
    assert at_20.outcomes[0].weight_after == 1_000_000.0
    assert at_20.minority_rows_after == 0 and not at_20.bias_check.passed
    # The table's checks and each factor's share the run's chance of a false failure.
    assert at_5.level == at_20.level == sweep.check_level == CHECK_LEVEL / 3


def test_each_factor_allows_for_the_spread_of_whole_keys_its_table_measured() -> None:
    sweep = sweep_of(COUNTS, (5.0, 20.0))
    before = {label: ClassStats.unweighted(rows) for label, rows in COUNTS.items()}
    # Keys of 400 rows: 20 sigma of single rows is one sigma of such keys at F=20.
    sd = math.sqrt(1_000_000 / 20 * (1 - 1 / 20))
    kept = round(50_000 + 20 * sd)
    totals = {5.0: {0: (200_000, 2e5), 1: (10_000, 1e4)}, 20.0: {0: (kept, kept), 1: (10_000, 1e4)}}
    by_rows, by_keys = (factor_results(sweep, before, totals, {0: rows})[1] for rows in (1, 400))
    assert not by_rows.counts_within_bound
    assert by_keys.counts_within_bound and by_keys.outcomes[0].key_rows == 400


def test_factors_on_the_command_line_replace_the_files_target(tmp_path: Any) -> None:
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text("target:\n  factor: 20\nsample:\n  method: hash\n  key: [id]\n")
    args = build_parser().parse_args(["run", "--config", str(config_file), "--factors", "5,10"])
    options = resolve_options(config_from_args(args).rebalance_options())
    assert options.sweep_factors == (5.0, 10.0) and options.request.factor == 5.0
    assert load_config(config_file, {"sample.factors": [5, 10]}).sample.factors == [5.0, 10.0]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--factor", "5", "--factors", "5,10"])
    assert flag_setting("factors", None) == "--factors"


def test_an_increment_does_not_extend_a_sweep() -> None:
    lineage = {"source": "/in", "seed": 1, "grouped": False, "exact": False}
    assert extendable_run({**lineage, "sweep_factors": []}, {"seed": 1}).lineage["seed"] == 1
    with pytest.raises(ConfigError, match="or a factor sweep: rerun in full and overwrite"):
        extendable_run({**lineage, "sweep_factors": [5.0, 10.0]}, {"seed": 1})

"""rebalance: downsample the majority class(es), upweight what is kept, prove the result.

>>> from rebalance_lib import rebalance
>>> out = rebalance(events_df, label="label", factor=20, seed=7)
>>> out.plan.minority_per_batch_after        # the pure plan, before a row is read again
11.689497716894977
>>> out.df                                   # lazy: the kept rows plus the weight column
DataFrame[..., weight: double]
>>> written = out.write(output_path)         # Delta + report + lineage
>>> sweep = rebalance(events_df, factors=[5, 10, 20], sampler="hash", sample_key="id")
>>> select_factor(sweep.df, 10)              # the rows and weights of F = 10, from one sample
DataFrame[..., rebalance_draw: double, weight: double]
"""

from rebalance_lib.api import (
    Rebalanced,
    RebalanceOptions,
    Written,
    rebalance,
    rebalance_table,
    select_factor,
)
from rebalance_lib.core.calibration import calibrate
from rebalance_lib.core.errors import RebalanceError
from rebalance_lib.core.plan import ClassPlan, Plan, plan_rebalance
from rebalance_lib.core.targets import TargetRequest
from rebalance_lib.core.versions import VERSION

__version__ = VERSION

plan = plan_rebalance  # the pure planner under its short name: counts + request -> Plan

__all__ = [
    "ClassPlan",
    "Plan",
    "RebalanceError",
    "RebalanceOptions",
    "Rebalanced",
    "TargetRequest",
    "Written",
    "__version__",
    "calibrate",
    "plan",
    "plan_rebalance",
    "rebalance",
    "rebalance_table",
    "select_factor",
]

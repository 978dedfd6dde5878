"""rebalance: downsample the majority class(es), upweight what is kept, prove the result."""

from rebalance_lib.core.calibration import calibrate
from rebalance_lib.core.errors import RebalanceError
from rebalance_lib.core.plan import ClassPlan, Plan, TargetRequest, plan_rebalance

__all__ = ["ClassPlan", "Plan", "RebalanceError", "TargetRequest", "calibrate", "plan_rebalance"]

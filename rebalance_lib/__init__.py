"""rebalance: downsample the majority class(es), upweight what is kept, prove the result."""

from rebalance_lib.calibration import calibrate
from rebalance_lib.errors import RebalanceError
from rebalance_lib.plan import ClassPlan, Plan, TargetRequest, plan_rebalance

__all__ = ["ClassPlan", "Plan", "RebalanceError", "TargetRequest", "calibrate", "plan_rebalance"]

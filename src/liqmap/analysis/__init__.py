"""Reading the heatmap: clusters, stacks, asymmetry, levels export, alert rule evaluation (pure)."""

from liqmap.analysis.clusters import Cluster, ClusterParams, describe_clusters, find_clusters
from liqmap.analysis.levels import Asymmetry, SessionPlan, Stack, asymmetry, session_plan, stacks
from liqmap.analysis.sizing import StopPlan, plan_stop

__all__ = [
    "Asymmetry",
    "Cluster",
    "ClusterParams",
    "SessionPlan",
    "Stack",
    "StopPlan",
    "asymmetry",
    "describe_clusters",
    "find_clusters",
    "plan_stop",
    "session_plan",
    "stacks",
]

"""gradstep's engine: scenarios, programs of primitive ops, and a stepper that runs them one node at a time.

Pure NumPy and the standard library; it never imports textual. The TUI uses only these names.
"""
from .display import fmt_num, fmt_shape, format_tensor, stats, summary
from .errors import Anomaly, ScenarioError
from .gradcheck import GradCheck, LeafCheck, gradcheck
from .ops import REGISTRY, Op
from .paths import Edge, Path, Paths, chain_paths
from .program import Node, Program
from .scenario import Scenario, load_scenario, load_scenario_text
from .stepper import Contribution, Cursor, Event, Phase, Stepper, UpdateInfo


def bundled_dir():
    """The folder of bundled scenarios (works from the source tree and from an installed wheel)."""
    from .cli import bundled_dir as _bundled
    return _bundled()


__all__ = [
    "Anomaly", "Contribution", "Cursor", "Edge", "Event", "GradCheck", "LeafCheck", "Node", "Op", "Path",
    "Paths", "Phase", "Program", "REGISTRY", "Scenario", "ScenarioError", "Stepper", "UpdateInfo",
    "bundled_dir", "chain_paths", "fmt_num", "fmt_shape", "format_tensor", "gradcheck", "load_scenario",
    "load_scenario_text", "stats", "summary",
]

"""gradstep's engine: scenarios, programs of primitive ops, and a stepper that runs them one node at a time.

Pure NumPy and the standard library; it never imports textual. The TUI uses only these names.
"""
from .errors import Anomaly, ScenarioError
from .ops import REGISTRY, Op
from .program import Node, Program
from .scenario import Scenario, load_scenario, load_scenario_text
from .stepper import Contribution, Cursor, Event, Phase, Stepper, UpdateInfo

__all__ = [
    "Anomaly", "Contribution", "Cursor", "Event", "Node", "Op", "Phase", "Program", "REGISTRY",
    "Scenario", "ScenarioError", "Stepper", "UpdateInfo", "load_scenario", "load_scenario_text",
]

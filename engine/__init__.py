"""gradstep's engine: scenarios, programs of primitive ops, and a stepper that runs them one node at a time.

Pure NumPy and the standard library; it never imports textual. The TUI uses only these names.
Names are loaded on first use (PEP 562), so `gradstep --help` does not pay for importing NumPy.
"""
_WHERE = {
    "FULL": "display", "fmt_num": "display", "fmt_shape": "display", "format_tensor": "display", "stats": "display",
    "summary": "display", "visible": "display", "clip_title": "display",
    "Anomaly": "errors", "ScenarioError": "errors",
    "Breakpoint": "breakpoints", "Place": "breakpoints", "Stop": "breakpoints",
    "Condition": "conditions", "compile_condition": "conditions", "Unavailable": "conditions",
    "NumericProblem": "conditions",
    "HealthMonitor": "health", "HealthRecorder": "health", "HealthSample": "health",
    "GradCheck": "grad_check", "LeafCheck": "grad_check", "gradcheck": "grad_check", "CheckCancelled": "grad_check",
    "DirectionalCheck": "grad_check", "directional_check": "grad_check",
    "REGISTRY": "ops", "Op": "ops",
    "Edge": "paths", "Path": "paths", "Paths": "paths", "chain_paths": "paths",
    "Node": "program", "Program": "program",
    "Scenario": "scenario", "QuizSpec": "scenario", "load_scenario": "scenario", "load_scenario_text": "scenario",
    "Contribution": "stepper", "Cursor": "stepper", "Event": "stepper", "Phase": "stepper",
    "StepKind": "stepper", "Stepper": "stepper", "UpdateInfo": "stepper", "Mode": "stepper", "TangentTerm": "stepper",
    "PassCosts": "tangents", "TangentSeed": "tangents", "tangent_name": "tangents",
}

__all__ = sorted(_WHERE)


def _module(name: str):
    """The submodule that defines an exported name, imported with a static statement."""
    if name == "display":
        from . import display as m
    elif name == "breakpoints":
        from . import breakpoints as m
    elif name == "conditions":
        from . import conditions as m
    elif name == "health":
        from . import health as m
    elif name == "errors":
        from . import errors as m
    elif name == "grad_check":
        from . import grad_check as m
    elif name == "ops":
        from . import ops as m
    elif name == "paths":
        from . import paths as m
    elif name == "program":
        from . import program as m
    elif name == "scenario":
        from . import scenario as m
    elif name == "tangents":
        from . import tangents as m
    else:
        from . import stepper as m
    return m


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradstep.engine' has no attribute {name!r}")


def __dir__():
    return __all__

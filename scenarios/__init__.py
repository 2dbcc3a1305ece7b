"""The bundled scenarios, shipped as package data so an installed gradstep finds them."""
from __future__ import annotations

from pathlib import Path


def bundled_dir() -> Path:
    """The folder of bundled scenarios, in the source tree or an installed wheel."""
    return Path(__file__).resolve().parent


def default_scenario() -> Path:
    """The scenario `gradstep` opens when none is given: the tutorial's two-layer net."""
    return bundled_dir() / "two_layer.toml"

"""The command palette (ctrl+p): open any bundled scenario, or run any action of the key table."""
from __future__ import annotations

import functools

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gradstep.scenarios import bundled_dir

from .bindings import ACTIONS


class ScenarioCommands(Provider):
    """Every bundled scenario to open, then every row of the bindings table with its key."""

    def _commands(self):
        app = self.app
        for path in sorted(bundled_dir().glob("*.toml")):
            yield (f"Open scenario: {path.stem}", functools.partial(app.source.open, path),
                   f"load {path.name} from the bundled scenarios")
        for a in ACTIONS:
            yield (f"{a.description} ({a.display.split()[0]})",
                   functools.partial(app.call_later, app.run_action, f"app.{a.action}"), a.help)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)

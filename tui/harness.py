"""Textual's test and screenshot harnesses start their pilot once the first scenario has loaded.

Loading runs in the background (source.py), so the app is ready for keys before its Stepper exists; a
person sees "loading…" for a moment, but a test that reads app.stepper at once, or a snapshot taken at
once, would race the load. run_test and run_async (which app.run and the snapshot plugin use) wait for
it here; an app class that sets WAIT_FOR_FIRST_LOAD = False gets its pilot at once (to test a slow load).
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from textual.app import App

FIRST_LOAD_DEADLINE = 60.0      # seconds a harness waits for the first load before going on anyway


class WaitsForFirstLoad(App):
    """An App whose test pilots start after the first load (success or failure) has arrived."""

    WAIT_FOR_FIRST_LOAD = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_load = asyncio.Event()        # set by the source when the first load has arrived

    async def _first_load(self) -> None:
        if self.WAIT_FOR_FIRST_LOAD:
            try:
                await asyncio.wait_for(self.first_load.wait(), FIRST_LOAD_DEADLINE)
            except asyncio.TimeoutError:
                pass

    @asynccontextmanager
    async def run_test(self, *args, **kwargs):
        async with super().run_test(*args, **kwargs) as pilot:
            await self._first_load()
            await pilot.pause()
            yield pilot

    async def run_async(self, *args, auto_pilot=None, **kwargs):
        if auto_pilot is not None:
            pilot_after_load = auto_pilot

            async def auto_pilot(pilot) -> None:
                await self._first_load()
                await pilot.pause()
                await pilot_after_load(pilot)
        return await super().run_async(*args, auto_pilot=auto_pilot, **kwargs)

"""Garbage collection off the key path (tui/heap.py): what is alive once a scenario is on screen is frozen
out of the collector, so a full collection no longer walks it at a key press; a reload collects the old
scenario's cycles before freezing the new one, so reloading leaks nothing."""
from __future__ import annotations

import gc
import weakref

from gradstep.tui.app import GradstepApp

from tuitest import TWO_LAYER, wait_for


async def test_the_loaded_heap_is_frozen_and_a_reload_frees_the_old_scenario():
    gc.unfreeze()
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: gc.get_freeze_count() > 0)
        frozen = gc.get_freeze_count()
        old = app.stepper

        class Cycle:                                    # cyclic garbage once the old Stepper goes: only the
            pass                                        # collector frees it, and only if it is not frozen
        c = Cycle()
        c.me, c.stepper = c, old
        old.test_cycle = c
        gone = weakref.ref(c)
        del c
        gc.collect()
        assert gc.get_count()[2] == 0
        await pilot.press("r")                          # reload the same file
        assert await wait_for(pilot, lambda: app.stepper is not old)
        del old
        assert await wait_for(pilot, lambda: gone() is None), "a frozen old scenario was never collected"
        assert gc.get_freeze_count() > 0
        await pilot.press("n")                          # it still steps
        assert app.stepper.tick == 1
        assert frozen > 1000
    gc.unfreeze()

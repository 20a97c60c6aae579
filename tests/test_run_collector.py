"""`kl-compat run` freezes the garbage collector over its observing, and leaves a caller's freeze alone."""

import gc

from kl_compat import run


def test_the_collector_is_frozen_while_observing_and_thawed_after():
    assert gc.get_freeze_count() == 0
    with run._collector_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_callers_own_freeze_is_left_as_it_was():
    kept = [[i] for i in range(100)]
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with run._collector_frozen():
            pass
        assert gc.get_freeze_count() == before  # not thawed by the run
    finally:
        gc.unfreeze()
    assert kept

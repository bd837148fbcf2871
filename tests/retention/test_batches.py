"""The size of pruning batches follows how long they take."""

from __future__ import annotations

from corral.retention.batches import BatchSizer


def test_a_batch_that_took_too_long_halves_the_next_and_a_quick_one_doubles_it_up_to_the_most() -> None:
    sizer = BatchSizer(most=300, target_s=0.05)
    sizes = [sizer.size]
    for took in (0.001, 0.001, 0.001, 0.2, 0.2, 0.03, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2):
        sizer.took(took)
        sizes.append(sizer.size)

    assert sizes == [50, 100, 200, 300, 150, 75, 75, 37, 18, 9, 4, 2, 1, 1]


def test_the_first_batch_is_never_larger_than_the_most() -> None:
    assert BatchSizer(most=10).size == 10

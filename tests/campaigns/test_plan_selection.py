"""Choosing a list's entries: the holdout draw, stratified by decile and seeded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.plan_selection import split_holdout

# -- the holdout draw ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    strata=st.lists(st.integers(1, 10), min_size=50, max_size=2000),
    fraction=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
    seed=st.integers(0, 2**31 - 1),
)
def test_holdout_keeps_each_deciles_share(strata: list[int], fraction: float, seed: int) -> None:
    labels = np.array(strata, dtype=np.int64)
    mask = split_holdout(labels, fraction, np.random.default_rng(seed))
    assert mask.sum() == round(fraction * len(labels))
    for label in np.unique(labels):
        members = labels == label
        # each stratum gets its quota rounded down or up, never further off
        assert abs(mask[members].sum() - fraction * members.sum()) < 1.0 + 1e-9


def test_holdout_is_seeded() -> None:
    labels = np.repeat(np.arange(1, 11), 100)
    one = split_holdout(labels, 0.1, np.random.default_rng(7))
    two = split_holdout(labels, 0.1, np.random.default_rng(7))
    other = split_holdout(labels, 0.1, np.random.default_rng(8))
    assert (one == two).all()
    assert not (one == other).all()

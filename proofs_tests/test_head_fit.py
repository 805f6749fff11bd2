"""P2 at the level of one head (training/head_fit.py): axial heads stay above theory T11's floor on a
target that is not a product, and a mixed head goes below it."""

from __future__ import annotations

import math

import pytest
import torch

from theory.separability import DIAGONAL_PAIR
from training import head_fit

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_target_sits_on_its_offsets_from_the_centre():
    t = head_fit.target_distribution(DIAGONAL_PAIR, grid=5).view(5, 5)
    assert t[3, 3] == t[1, 1] == 0.5 and t.sum() == 1.0 and torch.count_nonzero(t) == 2


@pytest.mark.parametrize("variant", ["rope_2D_axial_2x2", "commuting_axial_rope_2D_4x4", "rope_2D_axial_3x3_0"])
def test_an_axial_head_stays_above_the_mutual_information_of_the_diagonal_pair(variant):
    reached = head_fit.fit(variant, DIAGONAL_PAIR, starts=1, steps=150)
    assert reached >= math.log(2) - 1e-9, reached


def test_a_mixed_head_goes_below_that_floor():
    reached = head_fit.fit("mixed_rope_2D_2x2", DIAGONAL_PAIR, starts=1, steps=300)
    assert reached < 0.1 * math.log(2), reached

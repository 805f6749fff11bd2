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


@pytest.mark.parametrize(
    "fits, verdicts",
    [
        ({"control": 0.01, "axial": 1.2, "mixed": 0.001}, ["holds", "holds", "holds"]),
        # the fit could not shape even a product pattern: nothing is shown either way
        ({"control": 0.5, "axial": 1.2, "mixed": 0.9}, ["undecided", "undecided", "undecided"]),
        # an axial head below the floor refutes T11 or its implementation, whatever the control
        ({"control": 0.5, "axial": 0.5, "mixed": 0.001}, ["undecided", "fails", "holds"]),
        ({"control": 0.01, "axial": 1.2, "mixed": 0.8}, ["holds", "holds", "fails"]),
    ],
)
def test_the_tables_checks_follow_the_fits_and_their_control(monkeypatch, fits, verdicts):
    def fake_fit(variant, cells, starts, **options):
        if cells == head_fit.TARGETS[head_fit.CONTROL][0]:
            return fits["control"]
        if cells == DIAGONAL_PAIR:
            return fits["axial" if "axial" in variant and "mixed" not in variant else "mixed"]
        return 0.3

    monkeypatch.setattr(head_fit, "fit", fake_fit)
    table = head_fit.table({"axial": ("rope_2D_axial_2x2",), "mixed": ("mixed_rope_2D_2x2",)}, starts=1)
    assert [c["verdict"] for c in table["checks"]] == verdicts
    assert table["floor"] == math.log(2) and set(table["fits"]["axial"]["rope_2D_axial_2x2"]) == set(head_fit.TARGETS)

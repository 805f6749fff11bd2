"""The family registry (rope_blocks/registry.py): families register themselves with ``@rb.register``, and a
family defined anywhere, here in a test, is built, listed and checked like the library's own."""

from __future__ import annotations

import re

import pytest
import torch

import commands.check
import rope_blocks as rb
from rope_blocks import check
from rope_blocks.planar import PlanarRotation
from rope_blocks.registry import unregister

NAME = "slow_axial"  # a test family: axial 2x2 RoPE with a slower frequency base


@pytest.fixture
def slow_axial():
    """A relative 2x2 family defined and registered here, unregistered after the test."""

    @rb.register
    class SlowAxialRoPE(PlanarRotation):
        family = NAME
        block_sizes = (2,)
        tiling_blocks = 2

        def __init__(
            self, head_dim: int, num_heads: int, n_axes: int = 2, block_size: int = 2, *, base: float = 1000.0
        ):
            super().__init__(
                head_dim,
                num_heads,
                n_axes,
                block_size,
                planes_per_block=1,
                design="axial",
                base=base,
                learned_freqs=False,
                per_head=False,
            )

    try:
        yield SlowAxialRoPE
    finally:
        unregister(NAME)


def test_the_library_families_in_check_order():
    assert rb.families() == ("none", "axial", "mixed", "givens", "commuting", "weighted", "liere")
    assert not hasattr(rb, "FAMILIES")
    assert [rb.family_class(f).family for f in rb.families()] == list(rb.families())
    assert {f: rb.default_block_size(f) for f in rb.families()} == {
        "none": 2,
        "axial": 2,
        "mixed": 2,
        "givens": 3,
        "commuting": 4,
        "weighted": 3,
        "liere": 4,
    }
    assert rb.family_options("axial") == {"base": 100.0}
    assert set(rb.family_options("commuting")) >= {"design", "basis", "freqs", "base", "per_head", "basis_init"}
    labels = [row.label for row in check.rows()]
    assert labels == ["none", "axial", "mixed", "givens", "commuting_axial", "commuting_mixed", "weighted", "liere"]


def test_family_facts_are_class_attributes():
    facts = {
        f: (c.block_sizes, c.designs, c.tiling_blocks, c.unit_positions, c.always_orthogonal, c.has_plane_basis)
        for f in rb.families()
        for c in [rb.family_class(f)]
    }
    assert facts["axial"] == facts["mixed"] == ((2,), (), 2, False, True, True)
    assert facts["commuting"] == (None, ("axial", "mixed"), 1, False, True, True)
    assert facts["liere"][3] and not facts["weighted"][4] and not facts["none"][5]
    assert rb.family_class("weighted").is_relative(2, 2) and not rb.family_class("weighted").is_relative(3, 2)
    assert rb.family_class("liere").is_relative(4, 1) and not rb.family_class("liere").is_relative(4, 2)
    enc = rb.build("liere", head_dim=8, num_heads=2, n_axes=1, block_size=4)
    assert enc.relative is rb.family_class("liere").is_relative(4, 1)


def test_a_family_defined_here_is_built_listed_and_checked(slow_axial, capsys):
    assert rb.families()[-1] == NAME and rb.family_class(NAME) is slow_axial
    assert rb.family_options(NAME) == {"base": 1000.0} and rb.default_block_size(NAME) == 2
    enc = rb.build(NAME, head_dim=8, num_heads=2, n_axes=2)
    assert isinstance(enc, slow_axial) and enc.relative and rb.relative_error(enc) < 1e-10
    q = torch.randn(1, 2, 5, 8)
    q2, _ = enc(q, q, rb.grid_positions(2, 2), num_prefix_tokens=1)
    assert q2.shape == q.shape and torch.equal(q2[:, :, 0], q[:, :, 0])
    with pytest.raises(ValueError, match=rf"option 'bas' is not valid for family '{NAME}'. Did you mean 'base'"):
        rb.build(NAME, head_dim=8, num_heads=2, bas=10.0)
    with pytest.raises(ValueError, match=rf"the '{NAME}' family uses 2x2 blocks only"):
        rb.build(NAME, head_dim=8, num_heads=2, block_size=4)
    assert check.Row(NAME, NAME, {}, (2,)) in check.rows()

    assert commands.check.main(["--families", NAME]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(NAME)]
    assert len(lines) == 1, out
    assert re.match(rf"^{NAME}\s+2\s+(relative\s+\S+\s+){{3}}.*\syes$", lines[0]), lines[0]
    assert "theory and measurement agree on every row." in out


def test_the_registry_refuses_a_second_class_of_a_name(slow_axial):
    assert rb.register(slow_axial) is slow_axial  # the same class again changes nothing
    assert rb.families().count(NAME) == 1

    class Impostor(PlanarRotation):
        family = NAME

    with pytest.raises(ValueError, match=rf"family '{NAME}' is already registered by SlowAxialRoPE"):
        rb.register(Impostor)
    assert rb.family_class(NAME) is slow_axial

    class Axial(rb.AxialRoPE):  # nor may a library family's name be taken over
        pass

    with pytest.raises(ValueError, match="family 'axial' is already registered by AxialRoPE"):
        rb.register(Axial)


def test_the_registry_refuses_what_is_not_a_family():
    with pytest.raises(ValueError, match="register takes a RotaryEncoding subclass"):
        rb.register(torch.nn.Linear)

    class Nameless(PlanarRotation):
        pass

    with pytest.raises(ValueError, match="Nameless has no family name; set the class attribute family"):
        rb.register(Nameless)
    with pytest.raises(ValueError, match="unknown family 'slow_axial'"):
        unregister(NAME)


def test_unregistered_families_are_gone(slow_axial):
    unregister(NAME)
    try:
        assert NAME not in rb.families() and NAME not in {row.family for row in check.rows()}
        with pytest.raises(ValueError, match=f"unknown family '{NAME}'"):
            rb.build(NAME, head_dim=8, num_heads=2)
    finally:
        rb.register(slow_axial)  # for the fixture to unregister

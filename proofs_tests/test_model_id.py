"""Model names (records/model_id.py): one formatter and one parser of `vit_<variant>_<size>`, the seed's
spellings for its own rows, `<family>[_<design>]_rope_<n>D_<k>x<k>` for every other family."""

from __future__ import annotations

import doctest

import pytest

import rope_blocks as rb
from records import model_id
from records.model_id import ModelId, Variant
from rope_blocks import check
from training import models


def test_the_docstring_example():
    assert doctest.testmod(model_id).failed == 0


def test_every_registered_name_parses_and_formats_back():
    assert len(models.REGISTRY) > 100
    for name, (variant, _, _) in models.REGISTRY.items():
        parsed = ModelId.parse(name)
        assert str(parsed) == name and parsed.variant == variant, name
        assert parsed.size in models.SIZES and rb.family_class(parsed.variant.family)


@pytest.mark.parametrize(
    "text, variant",
    [
        ("no_rope", Variant("none")),
        ("rope_1D_axial_2x2", Variant("axial", n_axes=1)),
        ("rope_2D_axial_2x2", Variant("axial")),
        ("rope_2D_axial_3x3_0", Variant("givens", block_size=3, plane=(0, 1))),
        ("rope_2D_axial_3x3_1", Variant("givens", block_size=3, plane=(0, 2))),
        ("rope_2D_axial_3x3_2", Variant("givens", block_size=3, plane=(1, 2))),
        ("rope_2D_axial_5x5_0", Variant("givens", block_size=5, plane=(0, 1))),
        ("weighted_rope_2D_axial_4x4", Variant("weighted", block_size=4)),
        ("mixed_rope_2D_2x2", Variant("mixed")),
        ("commuting_axial_rope_2D_8x8", Variant("commuting", block_size=8, design="axial")),
        ("commuting_mixed_rope_3D_6x6", Variant("commuting", n_axes=3, block_size=6, design="mixed")),
        ("liere_rope_2D_4x4", Variant("liere", block_size=4)),
        ("newfamily_rope_2D_5x5", Variant("newfamily", block_size=5)),  # a new family needs no change here
        ("newfamily_spiral_rope_1D_3x3", Variant("newfamily", n_axes=1, block_size=3, design="spiral")),
    ],
)
def test_variant_names(text, variant):
    assert Variant.parse(text) == variant and str(variant) == text


def test_labels_and_options():
    assert Variant("commuting", design="axial").label == "commuting_axial" and Variant("givens").label == "givens"
    # The label is the design's one spelling: `rope-blocks check` uses the same rows.
    designs = {Variant(row.family, design=row.options.get("design")).label for row in check.rows()}
    assert designs == {row.label for row in check.rows()}
    assert Variant("commuting", design="mixed").options() == {"design": "mixed"}
    assert Variant("givens", block_size=3, plane=(1, 2)).options() == {"plane": (1, 2)}
    assert Variant("axial").options() == {}
    fields = ModelId.parse("vit_rope_2D_axial_3x3_1_cifar10").fields()
    assert fields == {
        "family": "givens",
        "n_axes": 2,
        "block_size": 3,
        "design": None,
        "plane": (0, 2),
        "label": "givens",
        "size": "cifar10",
    }


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("commuting_mixed_rope_2D_4x4_1", r"not a canonical variant name; did you mean 'commuting_mixed_rope_2D_4x4'"),
        ("weighted_rope_2D_3x3", r"did you mean 'weighted_rope_2D_axial_3x3'"),
        ("liere_rope_2D_axial_4x4", r"did you mean 'liere_rope_2D_4x4'"),
        ("rope_2D_axial_3x4", r"is not a variant name such as 'rope_2D_axial_2x2'"),
        ("rope_2D_axial_3x3_3", r"is not a variant name"),
        ("Commuting_rope_2D_4x4", r"is not a variant name"),
    ],
)
def test_bad_variant_names(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        Variant.parse(text)


@pytest.mark.parametrize(
    "name",
    [
        "vit_rope_2D_axial_2x2",
        "rope_2D_axial_2x2_cifar10",
        "vit_no_rope",
        "vit__digits",
        "vit_rope_2D_axial_2x2_Digits",
    ],
)
def test_bad_model_names(name):
    with pytest.raises(ValueError, match="is not a model name of the form vit_<variant>_<size>"):
        ModelId.parse(name)


def test_sizes_with_underscores_and_numbers():
    m = ModelId.parse("vit_commuting_axial_rope_2D_4x4_probe_extrapolate_content")
    assert (m.variant, m.size) == (Variant("commuting", block_size=4, design="axial"), "probe_extrapolate_content")
    assert ModelId.parse("vit_no_rope_matched_cifar10").size == "matched_cifar10"
    assert str(ModelId(Variant("liere", block_size=8), "digits")) == "vit_liere_rope_2D_8x8_digits"

"""A model's identity as structured data, with one formatter and one parser of its name.

A zoo model is an encoding variant at a model size, named ``vit_<variant>_<size>``. The
variant names keep the seed study's spellings for its own rows (``rope_2D_axial_2x2``,
``rope_2D_axial_3x3_1``, ``weighted_rope_2D_axial_3x3``, ``no_rope``); every other family
is spelled ``<family>[_<design>]_rope_<n>D_<k>x<k>``, so a new family needs no change here.

>>> m = ModelId.parse("vit_commuting_mixed_rope_2D_4x4_matched_digits")
>>> m.variant.family, m.variant.design, m.variant.block_size, m.size
('commuting', 'mixed', 4, 'matched_digits')
>>> str(m) == "vit_commuting_mixed_rope_2D_4x4_matched_digits"
True
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# The seed's 3x3 rows `_0/_1/_2` name the plane of each block that rotates; k >= 4 rows use `_0`.
SEED_PLANES = ((0, 1), (0, 2), (1, 2))
_VARIANT = re.compile(
    r"(?:(?P<prefix>[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)?)_)?rope_(?P<n>\d)D(?P<seed>_axial)?"
    r"_(?P<k>\d+)x(?P=k)(?:_(?P<plane>\d))?"
)
_NAME = re.compile(rf"vit_(?P<variant>no_rope|{_VARIANT.pattern})_(?P<size>[a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class Variant:
    """An encoding variant: family, position axes, block size k, and the options a name carries.

    design: the commuting family's "axial" or "mixed" (None for families without designs).
    plane: the givens family's rotating plane (m, n) of each block.
    """

    family: str
    n_axes: int = 2
    block_size: int = 2
    design: str | None = None
    plane: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """The design's one spelling in tables and on the command line: ``commuting_axial``, ``givens``."""
        return self.family + (f"_{self.design}" if self.design else "")

    def options(self) -> dict:
        """The keyword options of ``rope_blocks.build`` that the name fixes."""
        return {k: v for k, v in (("design", self.design), ("plane", self.plane)) if v is not None}

    def __str__(self) -> str:
        k, n = self.block_size, self.n_axes
        if self.family == "none":
            return "no_rope"
        if self.family == "axial":
            return f"rope_{n}D_axial_{k}x{k}"
        if self.family == "givens":
            return f"rope_{n}D_axial_{k}x{k}_{SEED_PLANES.index(self.plane or (0, 1))}"
        if self.family == "weighted":
            return f"weighted_rope_{n}D_axial_{k}x{k}"
        return f"{self.label}_rope_{n}D_{k}x{k}"

    @classmethod
    def parse(cls, text: str) -> Variant:
        if text == "no_rope":
            return cls("none")
        m = _VARIANT.fullmatch(text)
        if m is None:
            raise ValueError(
                f"{text!r} is not a variant name such as 'rope_2D_axial_2x2' or 'commuting_mixed_rope_2D_4x4'."
            )
        k, n, prefix = int(m["k"]), int(m["n"]), m["prefix"]
        if prefix is None:
            if m["plane"] is None:
                return cls("axial", n, k)
            if int(m["plane"]) >= len(SEED_PLANES):
                raise ValueError(f"{text!r} is not a variant name: the seed's rows end in the plane _0, _1 or _2.")
            return cls("givens", n, k, plane=SEED_PLANES[int(m["plane"])])
        family, _, design = prefix.partition("_")
        out = cls(family, n, k, design=design or None)
        if str(out) != text:  # e.g. a stray `_axial` or plane index the family does not take
            raise ValueError(f"{text!r} is not a canonical variant name; did you mean {str(out)!r}?")
        return out


@dataclass(frozen=True)
class ModelId:
    """A zoo model: ``variant`` at ``size`` (a size name of training.models, e.g. ``matched_digits``)."""

    variant: Variant
    size: str

    def __str__(self) -> str:
        return f"vit_{self.variant}_{self.size}"

    @classmethod
    def parse(cls, name: str) -> ModelId:
        m = _NAME.fullmatch(str(name))
        if m is None:
            raise ValueError(
                f"{name!r} is not a model name of the form vit_<variant>_<size>, e.g. 'vit_rope_2D_axial_2x2_cifar10'."
            )
        return cls(Variant.parse(m["variant"]), m["size"])

    @classmethod
    def name(cls, variant: str, size: str) -> str:
        """The model name of the variant named ``variant`` at ``size``, checked: ModelId.name("no_rope", "digits")."""
        return str(cls(Variant.parse(variant), size))

    def fields(self) -> dict:
        """The identity as plain fields, for self-describing result files."""
        return {**asdict(self.variant), "label": self.variant.label, "size": self.size}

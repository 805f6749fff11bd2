"""Select an encoding family by name, with clear errors for names and options that do not fit."""
from __future__ import annotations

import difflib
import inspect

from torch import nn

from .base import RotaryEncoding
from .liere import LieRE
from .none import NoRoPE
from .planar import AxialRoPE, CommutingRoPE, GivensRoPE, MixedRoPE
from .weighted import WeightedRoPE

_CLASSES: dict[str, type[RotaryEncoding]] = {
    cls.family: cls for cls in (NoRoPE, AxialRoPE, MixedRoPE, GivensRoPE, WeightedRoPE, CommutingRoPE, LieRE)
}
FAMILIES: tuple[str, ...] = tuple(_CLASSES)


def family_options(family: str) -> dict[str, object]:
    """The keyword options a family accepts beyond the shape arguments, with their defaults."""
    params = inspect.signature(_family_class(family).__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


def _family_class(family) -> type[RotaryEncoding]:
    if family not in _CLASSES:
        close = difflib.get_close_matches(str(family).lower(), FAMILIES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown family {family!r}.{hint} The families are: {', '.join(FAMILIES)}.")
    return _CLASSES[family]


def build(family: str, *, head_dim: int, num_heads: int, n_axes: int = 2, block_size: int | None = None,
          **options) -> RotaryEncoding:
    """Build the encoding ``family`` for attention with ``num_heads`` heads of width ``head_dim``.

    Args:
        family: one of FAMILIES.
        head_dim, num_heads: D and H of the q and k it will rotate, shaped (B, H, N, D).
        n_axes: position coordinates per token (1, 2 or 3).
        block_size: k; default the family's own (2 for none/axial/mixed, 3 for givens/weighted,
            4 for commuting/liere).
        options: the family's own options (see ``family_options(family)``).
    Returns:
        An nn.Module ``enc`` with ``enc(q, k, pos) -> (q', k')``, ``rotation``, ``generators``,
        ``relative`` and ``no_weight_decay``.
    """
    cls = _family_class(family)
    allowed = family_options(family)
    for name in options:
        if name not in allowed:
            valid = ", ".join(allowed) if allowed else "none"
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"option {name!r} is not valid for family {family!r}.{hint} Its options: {valid}.")
    if block_size is not None:
        options["block_size"] = block_size
    return cls(head_dim, num_heads, n_axes, **options)


def encodings(module: nn.Module) -> list[RotaryEncoding]:
    """Every encoding inside ``module`` (e.g. one per attention layer)."""
    return [m for m in module.modules() if isinstance(m, RotaryEncoding)]

"""Families register themselves by name; build one with clear errors for names and options that do not fit.

A family is a RotaryEncoding subclass with a ``family`` name and its facts as class attributes
(see RotaryEncoding), registered with ``@register``. Everything that lists families (`rope-blocks
check`, the model zoo, the benchmarks) reads them here, so adding a family means writing its
module and its tests.
"""

from __future__ import annotations

import difflib
import inspect

from torch import nn

from .base import RotaryEncoding

_CLASSES: dict[str, type[RotaryEncoding]] = {}


def register(cls: type[RotaryEncoding]) -> type[RotaryEncoding]:
    """Class decorator: make ``cls`` buildable as ``build(cls.family, ...)``."""
    if not (isinstance(cls, type) and issubclass(cls, RotaryEncoding)):
        raise ValueError(f"register takes a RotaryEncoding subclass, got {cls!r}.")
    if not cls.family or not isinstance(cls.family, str):
        raise ValueError(f"{cls.__name__} has no family name; set the class attribute family = '<name>'.")
    if _CLASSES.get(cls.family, cls) is not cls:
        raise ValueError(
            f"family {cls.family!r} is already registered by {_CLASSES[cls.family].__name__}; choose another name."
        )
    _CLASSES[cls.family] = cls
    return cls


def unregister(family: str) -> None:
    """Remove a registered family (e.g. one a test defined)."""
    family_class(family)
    del _CLASSES[family]


def families() -> tuple[str, ...]:
    """The registered family names, in registration order."""
    return tuple(_CLASSES)


def family_class(family) -> type[RotaryEncoding]:
    if family not in _CLASSES:
        close = difflib.get_close_matches(str(family).lower(), _CLASSES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown family {family!r}.{hint} The families are: {', '.join(_CLASSES)}.")
    return _CLASSES[family]


def family_options(family: str) -> dict[str, object]:
    """The keyword options a family accepts beyond the shape arguments, with their defaults."""
    params = inspect.signature(family_class(family).__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


def default_block_size(family: str) -> int:
    """The family's own k when none is given."""
    return inspect.signature(family_class(family).__init__).parameters["block_size"].default


def build(
    family: str, *, head_dim: int, num_heads: int, n_axes: int = 2, block_size: int | None = None, **options
) -> RotaryEncoding:
    """Build the encoding ``family`` for attention with ``num_heads`` heads of width ``head_dim``.

    Args:
        family: one of ``families()``.
        head_dim, num_heads: D and H of the q and k it will rotate, shaped (B, H, N, D).
        n_axes: position coordinates per token (1, 2 or 3).
        block_size: k; default the family's own (``default_block_size``).
        options: the family's own options (see ``family_options(family)``).
    Returns:
        An nn.Module ``enc`` with ``enc(q, k, pos) -> (q', k')``, ``rotation``, ``generators``,
        ``relative`` and ``no_weight_decay``.
    """
    cls = family_class(family)
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

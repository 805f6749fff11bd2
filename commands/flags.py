"""The one flag style of the command line, and parsers generated from config dataclasses.

Flags are spelled with dashes (``--batch-size``); the underscore spelling (``--batch_size``, the
seed's) is accepted as an alias of every flag, so both styles of command line work.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose every ``--long-flag`` also answers to ``--long_flag``, and vice versa."""

    def add_argument(self, *names, **kwargs):
        spelled = []
        for name in names:
            spelled.append(name)
            if name.startswith("--") and ("-" in name[2:] or "_" in name[2:]):
                dashed = "--" + name[2:].replace("_", "-")
                spelled += [n for n in (dashed, "--" + name[2:].replace("-", "_")) if n not in spelled]
        canonical = sorted(spelled, key=lambda n: ("_" in n, spelled.index(n)))  # the dashed spelling first
        return super().add_argument(*canonical, **kwargs)


def parser(prog: str, doc: str, **kwargs) -> Parser:
    """A Parser whose description is the first paragraph of ``doc``.

    Abbreviated flags are refused: with two spellings of every flag a prefix would be ambiguous,
    and a full name reads the same in every command line.
    """
    return Parser(prog=prog, description=doc.strip().split("\n\n")[0], allow_abbrev=False, **kwargs)


def _base_type(annotation) -> type:
    """int for ``int | None``, bool for ``bool``: the type a flag's text converts to."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def add_dataclass_arguments(p: argparse.ArgumentParser, cls) -> None:
    """A flag per field of dataclass ``cls``, with its default, type and help (``metadata["help"]``).

    A bool field defaulting to False becomes a switch ``--flag``, one defaulting to True a switch
    ``--no-flag``, and one defaulting to None both. Other metadata (choices, nargs, const, metavar)
    goes to ``add_argument``; ``metadata["flag"] = None`` keeps a field off the command line.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        if not f.init or meta.pop("flag", "") is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        flag, help_ = "--" + f.name.replace("_", "-"), meta.pop("help", None)
        kind = _base_type(hints[f.name])
        if kind is bool and default is True:  # on unless switched off
            p.add_argument(f"--no-{flag[2:]}", dest=f.name, action="store_false", help=f"do not {help_}")
            continue
        if kind is bool:
            action = "store_true" if default is False else argparse.BooleanOptionalAction
            p.add_argument(flag, dest=f.name, action=action, default=default, help=help_)
            continue
        p.add_argument(flag, dest=f.name, type=kind, default=default, help=help_, **meta)

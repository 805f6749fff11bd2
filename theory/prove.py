"""The proofs T1..T11 as one run: their certificates, the theorem table, and the certificates file."""

from __future__ import annotations

import platform
import sys
import textwrap

import numpy
import scipy
import sympy

from records import provenance

from .absorption import t5_absorption
from .certificate import Certificate
from .closed_forms import t8_closed_forms
from .counting import t10_counting
from .liere import t9_liere
from .relative import t1_sufficiency, t2_necessity
from .seed_blocks import t6_givens_blocks, t7_weighted_blocks
from .separability import t11_separability
from .structure import t3_structure, t4_normal_form

THEOREMS = (
    t1_sufficiency,
    t2_necessity,
    t3_structure,
    t4_normal_form,
    t5_absorption,
    t6_givens_blocks,
    t7_weighted_blocks,
    t8_closed_forms,
    t9_liere,
    t10_counting,
    t11_separability,
)


def format_table(certificates: list[Certificate], statement_width: int = 62, range_width: int = 30) -> str:
    """The theorem table, statements and ranges wrapped in their columns."""
    header = f"{'id':<4} {'statement':<{statement_width}} {'range':<{range_width}} "
    header += f"{'verdict':<7} {'residual':>9} {'seconds':>8}"
    lines = [header, "-" * len(header)]
    for c in certificates:
        statement = textwrap.wrap(c.statement, statement_width)
        covers = textwrap.wrap(c.covers, range_width)
        for i in range(max(len(statement), len(covers))):
            first = i == 0
            lines.append(
                f"{c.id if first else '':<4} {statement[i] if i < len(statement) else '':<{statement_width}} "
                f"{covers[i] if i < len(covers) else '':<{range_width}}"
                + (f" {'proved' if c.verdict else 'FAILED':<7} {c.residual:>9.1e} {c.seconds:>8.2f}" if first else "")
            )
    return "\n".join(line.rstrip() for line in lines)


def run(ids: list[str] | None = None) -> list[Certificate]:
    """The certificates of the theorems ``ids`` (default all), in order; ValueError names unknown ids."""
    known = {f.theorem_id: f for f in THEOREMS}
    wanted = [w.strip().upper() for w in ids or known]
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValueError(f"unknown theorem id(s) {', '.join(unknown)}; the ids are {', '.join(known)}.")
    certificates = []
    for theorem_id in (w for w in known if w in wanted):
        certificates.append(known[theorem_id]())
        print(f"  {certificates[-1].id} done in {certificates[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    return certificates


def record(certificates: list[Certificate], argv: list[str], seconds: float) -> dict:
    """The certificates file: provenance, versions and every certificate."""
    return {
        **provenance.header(argv, provenance.device_description(), code=("records", "theory")),
        "platform": platform.platform(),
        "seconds": round(seconds, 2),
        "python": platform.python_version(),
        "sympy": sympy.__version__,
        "scipy": scipy.__version__,
        "numpy": numpy.__version__,
        "theorems": [c.as_dict() for c in certificates],
    }

"""`rope-blocks check` (rope_blocks/check.py, commands/check.py): its verdicts are DESIGN.md's, and it fails
loudly when they are not."""

from __future__ import annotations

import re

import pytest

import commands
from commands import check as command
from rope_blocks import check


def rows(output):
    """{(label, k): (verdicts per n_axes, agree)} from the printed table."""
    parsed = {}
    for line in output.splitlines():
        m = re.match(r"^(\S+)\s+(\d)\s+(.*)\s(yes|NO)$", line)
        if m:
            verdicts = tuple(v == "relative" for v in re.findall(r"relative|not rel\.", m.group(3)))
            parsed[(m.group(1), int(m.group(2)))] = (verdicts, m.group(4) == "yes")
    return parsed


def test_check_verdicts_agree_with_design(capsys):
    assert commands.main(["check", "--families", "axial", "mixed", "givens", "weighted", "liere"]) == 0
    table = rows(capsys.readouterr().out)
    assert len(table) == 2 + 3 * 7
    for (label, k), (verdicts, agree) in table.items():
        assert agree, f"{label} k={k}: theory and measurement disagree"
        if label in ("axial", "mixed", "givens"):
            assert verdicts == (True, True, True)
        elif label == "weighted":
            assert verdicts == ((True,) * 3 if k == 2 else (False,) * 3)
        else:  # liere: relative for k = 2 or a single axis
            assert verdicts == ((True,) * 3 if k == 2 else (True, False, False))


def test_check_reports_a_disagreement(capsys, monkeypatch):
    monkeypatch.setattr(check, "RELATIVE_TOL", 0.0)  # demand exact zero: float64 round-off now "disagrees"
    assert command.main(["--families", "axial"]) == 1
    out = capsys.readouterr().out
    assert "NO" in out and "DISAGREE" in out


def test_check_rejects_a_head_too_small_for_the_table():
    with pytest.raises(SystemExit):
        command.main(["--head-dim", "16"])

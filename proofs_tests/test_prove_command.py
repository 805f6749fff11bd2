"""`rope-blocks prove` (theory/prove.py: run, format_table, record; commands/prove.py): it prints and writes
what it ran, never writes a partial run unasked, and names unknown theorem ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from commands import prove as command
from theory import prove

REPO = Path(__file__).resolve().parent.parent


def test_prove_command_runs_one_theorem(tmp_path, capsys):
    out = tmp_path / "theorems.json"
    assert command.main(["--only", "T3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "T3" in printed and "proved" in printed and "T1 " not in printed
    record = json.loads(out.read_text())
    assert {"command", "commit", "date", "python", "sympy", "scipy", "device", "theorems"} <= set(record)
    assert [t["id"] for t in record["theorems"]] == ["T3"] and record["theorems"][0]["verdict"] is True
    assert record["command"] == f"rope-blocks prove --only T3 --out {out}"


def test_prove_partial_run_keeps_the_committed_results(tmp_path, capsys, monkeypatch):
    default = tmp_path / "runs" / "theorems.json"
    monkeypatch.setattr(command, "DEFAULT_OUT", default)  # where a full run without --out writes
    committed = REPO / "results" / "theorems.json"
    before = committed.read_bytes() if committed.exists() else None
    assert command.main(["--only", "t10"]) == 0
    assert "not writing" in capsys.readouterr().out
    assert (committed.read_bytes() if committed.exists() else None) == before
    assert not default.exists() and not any(tmp_path.rglob("*"))


def test_prove_rejects_unknown_ids(capsys):
    assert command.main(["--only", "T12", "--no-write"]) == 2
    assert "T12" in capsys.readouterr().err


def test_run_names_unknown_ids_and_keeps_the_theorem_order():
    with pytest.raises(ValueError, match=r"unknown theorem id\(s\) T0, T12; the ids are T1, T2"):
        prove.run(["T0", "t3", "T12"])
    certificates = prove.run(["t10", " T8 "])  # case and spaces do not matter; the table keeps T1..T11's order
    assert [c.id for c in certificates] == ["T8", "T10"]
    table = prove.format_table(certificates)
    assert table.splitlines()[0].split()[:3] == ["id", "statement", "range"]
    assert table.index("T8 ") < table.index("T10 ")
    record = prove.record(certificates, ["rope-blocks", "prove", "--only", "T8,T10"], 1.234)
    assert record["command"] == "rope-blocks prove --only T8,T10" and record["seconds"] == 1.23
    assert "machine" not in record and record["device"]
    assert [t["id"] for t in record["theorems"]] == ["T8", "T10"]


def test_prove_command_never_imports_torch():
    code = "import sys, commands.prove; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_prove_refuses_to_replace_certificates_or_write_under_a_file(tmp_path, capsys):
    out = tmp_path / "theorems.json"
    out.write_text("earlier certificates")
    assert command.main(["--only", "T8", "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and out.read_text() == "earlier certificates"
    assert command.main(["--only", "T8", "--out", str(out / "x.json")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert command.main(["--only", "T8", "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["theorems"][0]["id"] == "T8"

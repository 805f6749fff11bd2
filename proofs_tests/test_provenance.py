"""Where a result came from, and files written atomically (records/provenance.py); records/ imports no torch."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO

from records import provenance


def test_now_is_utc_to_the_second():
    text = provenance.now()
    stamp = datetime.datetime.fromisoformat(text)
    assert stamp.utcoffset() == datetime.timedelta(0) and stamp.microsecond == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text), text
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 60


def git(*args: str) -> str:
    """Read-only git, without the optional index lock that `git status` would otherwise take."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, env=env).stdout.strip()


def test_git_commit_names_head_and_flags_changes_in_the_code_only():
    head = git("rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert provenance.git_commit(("no_such_folder",)) == head  # nothing changed there
    commit = provenance.git_commit()
    assert commit in (head, head + provenance.DIRTY)
    assert commit.endswith(provenance.DIRTY) == bool(git("status", "--porcelain", "--", *provenance.CODE))


def test_last_change_names_the_commit_that_last_touched_a_file():
    path = provenance.REPO / "training" / "fashion_suite.py"
    commit = provenance.last_change(path)[:40]
    touched = subprocess.run(
        ["git", "show", "--name-only", "--format=", commit], cwd=provenance.REPO, capture_output=True, text=True
    ).stdout.split()
    assert "training/fashion_suite.py" in touched
    later = subprocess.run(
        ["git", "log", "--format=%H", f"{commit}..HEAD", "--", str(path)],
        cwd=provenance.REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert later == []
    assert provenance.last_change(provenance.REPO / "no-such-file").startswith("unknown")


def test_git_commit_outside_a_checkout(monkeypatch):
    def no_git(*args, **kwargs):
        raise OSError("no git here")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert provenance.git_commit() == "unknown (not a git checkout)"


def test_device_description():
    assert provenance.device_description("NVIDIA H100 80GB HBM3", processes=2) == "2 x NVIDIA H100 80GB HBM3"
    cpu = provenance.device_description(threads=1)
    assert cpu.startswith("1 x CPU process (1 thread; ") and cpu.endswith(f", {os.cpu_count()} cores)")
    assert provenance.device_description(processes=3, threads=4).startswith("3 x CPU process (4 threads; ")
    unknown_threads = provenance.device_description()
    assert unknown_threads.startswith("1 x CPU process (") and "thread" not in unknown_threads


def test_header_says_what_ran_where_and_when():
    header = provenance.header(["rope-blocks", "train", "--out", "a folder"], "1 x CPU")
    assert set(header) == {"command", "commit", "date", "device"}
    assert header["command"] == "rope-blocks train --out 'a folder'" and header["device"] == "1 x CPU"
    assert header["commit"] == provenance.git_commit()
    datetime.datetime.fromisoformat(header["date"])


def test_writers_round_trip_and_make_folders(tmp_path):
    provenance.write_json({"a": [1, 2.5, None]}, tmp_path / "x/y/one.json")
    assert json.loads((tmp_path / "x/y/one.json").read_text()) == {"a": [1, 2.5, None]}
    provenance.write_json({"b": 1}, tmp_path / "two.json", indent=2)
    assert (tmp_path / "two.json").read_text() == '{\n  "b": 1\n}\n'
    provenance.write_jsonl([{"epoch": 1}, {"epoch": 2}], tmp_path / "m.jsonl")
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"epoch": 1}, {"epoch": 2}]
    provenance.write_text("# table\n", tmp_path / "s.md")
    provenance.write_text("# new table\n", tmp_path / "s.md")
    assert (tmp_path / "s.md").read_text() == "# new table\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["m.jsonl", "one.json", "s.md", "two.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "result.json"
    provenance.write_json({"old": True}, path)

    def half_then_fail(f):
        f.write(b'{"new": ')
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        provenance.atomic_write(path, half_then_fail)
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    with pytest.raises(TypeError):  # not JSON: nothing written either
        provenance.write_json({"x": object()}, path)
    assert json.loads(path.read_text()) == {"old": True} and len(list(tmp_path.iterdir())) == 1


def test_records_never_imports_torch():
    code = "import sys, records.provenance, records.model_id, records.stats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_outputs_are_checked_before_any_work(tmp_path):
    provenance.check_writable(tmp_path / "new" / "folder")  # made later: its nearest existing parent is writable
    blocker = tmp_path / "a-file"
    blocker.write_text("kept")
    with pytest.raises(ValueError, match=r"--out .*a-file/under cannot be written \(.*a-file is not a writable folder"):
        provenance.check_writable(blocker / "under")
    with pytest.raises(ValueError, match=r"a-file already exists; pass --overwrite to replace it, or another --out"):
        provenance.check_new(blocker, overwrite=False)
    provenance.check_new(blocker, overwrite=True)
    with pytest.raises(ValueError, match=r"--out .* is a folder; pass the path of a file"):
        provenance.check_new(tmp_path, overwrite=True)
    assert blocker.read_text() == "kept"

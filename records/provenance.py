"""Where a result came from (commit, device, date, command), and files written atomically.

Every writer of results, checkpoints, benchmarks and certificates uses this module, so a
result file always says which code made it, on what, and when, in one format. It imports
no torch: ``rope-blocks prove`` records its certificates without loading it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The folders whose code produces a training or export result: a change there makes its commit
# "uncommitted". The proofs and the benchmarks name their own folders (header's code).
CODE = ("records", "rope_blocks", "training", "commands")
DIRTY = " (with uncommitted changes)"
# Where outputs and downloaded data go by default: beside the code in a checkout; for an installed
# copy (no checkout around it), the current folder.
HOME = REPO if (REPO / ".git").exists() else Path.cwd()
RUNS = HOME / "runs"


def _git(*args: str) -> str | None:
    """A git command's output in the checkout, or None outside one."""
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def head(short: bool = False) -> str | None:
    """The commit checked out (abbreviated when ``short``), or None outside a git checkout."""
    return _git("rev-parse", *(["--short"] if short else []), "HEAD")


def last_change(*paths: Path) -> str:
    """The last commit that changed any of ``paths`` (a pre-registered design and the code it names), flagged
    when one has changed since."""
    names = [str(p) for p in paths]
    commit = _git("log", "-1", "--format=%H", "--", *names)
    if not commit:
        return "unknown (not a git checkout, or the file is not committed)"
    return commit + (DIRTY if _git("status", "--porcelain", "--", *names) else "")


def git_commit(code: Sequence[str] = CODE) -> str:
    """HEAD, flagged when the folders holding the code that ran differ from it (new files count too)."""
    commit = head()
    if commit is None:
        return "unknown (not a git checkout)"
    # No optional index lock: a status taken while other git commands run must not make them fail.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *code], cwd=REPO, capture_output=True, text=True, check=True, env=env
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (DIRTY if dirty.stdout.strip() else "")


def now() -> str:
    """The date and time in UTC, ISO 8601 to the second: the one date format of every result file."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def device_description(gpu: str | None = None, *, processes: int = 1, threads: int | None = None) -> str:
    """'2 x NVIDIA H100 80GB HBM3', or '1 x CPU process (1 thread; x86_64, 2 cores)'."""
    if gpu is not None:
        return f"{processes} x {gpu}"
    per = "" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}; "
    cpu = platform.processor() or platform.machine()
    return f"{processes} x CPU process ({per}{cpu}, {os.cpu_count()} cores)"


def header(argv: Sequence[str], device: str, code: Sequence[str] = CODE) -> dict:
    """The fields every result file starts with: command, commit (of the folders ``code``), device and date."""
    return {"command": shlex.join(argv), "commit": git_commit(code), "device": device, "date": now()}


def check_writable(folder: Path, flag: str = "--out") -> None:
    """Refuse an output folder that cannot be made or written, before any work is spent on what goes there."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ValueError(
            f"{flag} {folder} cannot be written ({existing} is not a writable folder); pass a {flag} in a "
            "folder you can write to."
        )


def check_new(path: Path, overwrite: bool, flag: str = "--out") -> None:
    """Refuse to replace an existing file unless asked to, and a file that cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; pass the path of a file.")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; pass --overwrite to replace it, or another {flag}.")
    check_writable(path.parent, flag)


def atomic_write(path: Path, write: Callable) -> None:
    """Write ``path`` through ``write(binary file)``: beside it under a temporary name, flushed to disk,
    then renamed over it, so a process killed at any moment leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(obj, path: Path, indent: int = 1) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=indent) + "\n").encode()))


def write_jsonl(records: list[dict], path: Path) -> None:
    atomic_write(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in records).encode()))


def write_text(text: str, path: Path) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))

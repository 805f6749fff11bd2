"""The result files the paper reads, the commands that make them, and what to say when one is missing."""

from __future__ import annotations

import json
from itertools import chain
from pathlib import Path

from paper.tex import code, tex
from records.provenance import REPO

PROVE = "rope-blocks prove"
ZOO = {suite: f"rope-blocks zoo --suite {suite}" for suite in ("digits", "probes", "fashion")}
BENCH = "make bench"
DIGITS = "digits/summary.json"
PROBES = "probes/summary.json"
FASHION = "fashion/summary.json"
SUMMARIES = {"digits": DIGITS, "probes": PROBES, "fashion": FASHION}
THEOREMS = "theorems.json"


def shown(path: Path) -> str:
    """A path as the reader knows it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


class Missing(Exception):
    """A result a table or figure needs is absent; `paragraph` says so in the paper instead."""

    def __init__(self, what: str, command: str):
        super().__init__(what)
        self.paragraph = f"Not yet run: {tex(what)}; run {code(command)}.\n"


class Results:
    """The results folder; remembers every missing file and the command that makes it."""

    def __init__(self, root: Path):
        self.root = root
        self.missing: dict[str, str] = {}
        self.loaded: dict[str, dict] = {}  # several tables and figures read the same file

    def load(self, name: str, command: str) -> dict:
        path = self.root / name
        if not path.is_file():
            self.missing[shown(path)] = command
            raise Missing(f"{shown(path)} is missing", command)
        if name not in self.loaded:
            self.loaded[name] = json.loads(path.read_text())
        return self.loaded[name]

    def benches(self, kind: str) -> dict[str, dict]:
        """Every device's benchmark of one kind, {device tag: result}, the CPU first."""
        paths = sorted(self.root.glob(f"bench/*-{kind}.json"), key=lambda p: (not p.name.startswith("cpu-"), p.name))
        if not paths:
            self.load(f"bench/cpu-{kind}.json", BENCH)
        return {p.name.removesuffix(f"-{kind}.json"): json.loads(p.read_text()) for p in paths}

    def run_file(self, run: dict) -> dict | None:
        """A zoo run's own result file: results/<suite>/<run_id>.json (digits) or
        results/<suite>/<dataset>/<run_id>.json (probes); None when it is not there."""
        name = f"{run['run_id']}.json"
        path = next(chain(self.root.glob(f"*/{name}"), self.root.glob(f"*/*/{name}")), None)
        return json.loads(path.read_text()) if path else None

    def history(self, run: dict) -> list[dict] | None:
        """A zoo run's per-epoch record, from its own result file."""
        data = self.run_file(run)
        return data["history"] if data else None

    def model_config(self, runs: list[dict]) -> dict | None:
        """The architecture (depth, patch_size, pool, ...) that the first of `runs` with a result file records."""
        return next(
            (data["model_config"] for data in map(self.run_file, runs) if data and "model_config" in data), None
        )

"""The CIFAR10 table: the seed study's cited accuracies beside this project's runs, and the loop that makes them."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from paper.results import Results, shown
from paper.runs import short_name
from paper.tex import acc_ci, code, row, table, tex

SEED_CIFAR10 = Path(__file__).resolve().parent / "seed_cifar10.json"
# The torchrun loop of README.md's "The seed's CIFAR10 comparison on GPUs", verbatim: a test keeps
# the two equal, so that the command printed in the paper is the one the README gives.
CIFAR_COMMAND = (
    "for m in no_rope rope_1D_axial_2x2 rope_2D_axial_2x2 rope_2D_axial_3x3_0 rope_2D_axial_3x3_1 rope_2D_axial_3x3_2 "
    "\\\n"
    "         rope_2D_axial_4x4_0 rope_2D_axial_5x5_0 rope_2D_axial_6x6_0 weighted_rope_2D_axial_3x3 "
    "weighted_rope_2D_axial_4x4; do\n"
    "  for s in 0 1 2; do\n"
    "    torchrun --standalone --nproc_per_node 4 -m commands train --optimizer adamw --epochs 25 \\\n"
    "      --model vit_${m}_cifar10 --run_id vit_${m}_cifar10_seed$s --seed $s --cuda --batch_size 64 --lr 0.001 \\\n"
    "      --dataset cifar10 --data_path data --out .\n"
    "  done\n"
    "done\n"
)
WHERE = "the torchrun loop of the README, on GPUs"


def cifar_table(res: Results) -> str:
    seed = json.loads(SEED_CIFAR10.read_text())
    ours: dict[str, list[float]] = {}
    for path in sorted((res.root / "cifar10").glob("*.json")):
        run = json.loads(path.read_text())
        if "best" in run:  # a per-run file, not a summary
            ours.setdefault(run["model"], []).append(run["best"]["test_acc"])
    if not ours:
        res.missing[shown(res.root / "cifar10")] = WHERE
    body = [
        [
            tex(short_name(model)),
            f"{100 * acc['best']:.2f} ({100 * acc['final']:.2f})",
            acc_ci(ours[model]) if model in ours else "not yet run",
        ]
        for model, acc in seed["test_acc"].items()
    ]
    caption = (
        f"CIFAR10 test accuracy in \\%. Seed study: {tex(seed['about'])} Source: {tex(seed['source'])}. "
        "This project: mean [95\\% interval] over seeds at the epoch of best validation accuracy, from "
        f"{code(shown(res.root / 'cifar10') + '/*.json')}, made by the torchrun loop printed with this table."
    )
    return (
        table(caption, "tab:cifar", "lrr", [row(["model", "seed study, best (final)", "this project"])], body)
        + "\n"
        + wrapped(CIFAR_COMMAND)
    )


def wrapped(loop: str, width: int = 72) -> str:
    """A shell loop as a verbatim block, long lines wrapped with shell continuations to fit the page."""
    lines = []
    for line in loop.splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        glued = re.sub(r"(--\S+) (?!-)", "\\1\0", line.removesuffix("\\").rstrip())  # an option keeps its value
        pieces = [
            piece.replace("\0", " ")
            for piece in textwrap.wrap(
                glued, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
            )
        ]
        lines += [piece + " \\" for piece in pieces[:-1]] + [pieces[-1] + (" \\" if line.endswith("\\") else "")]
    return "{\\footnotesize\n\\begin{verbatim}\n" + "\n".join(lines) + "\n\\end{verbatim}\n}\n"

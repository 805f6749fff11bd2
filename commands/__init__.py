"""The `rope-blocks` command: one entry point, a subcommand per job, the only layer that parses arguments.

Each subcommand lives in its own module, imported only when it runs, so `rope-blocks prove`
never imports torch and `rope-blocks check` never imports torchvision. Every subcommand exits
with status 2 and a message that names the fix on bad input.
"""

from __future__ import annotations

import difflib
import importlib
import sys

# name -> one-line help; the code is commands.<name>.main(argv) -> int
SUBCOMMANDS = {
    "prove": "run the symbolic and numeric proofs T1..T11 and write their certificates",
    "check": "table of every family and block size: relative property, orthogonality, fast vs dense",
    "train": "train one ViT (accepts the seed's command-line flags verbatim)",
    "zoo": "train and compare a suite of models (digits offline, the probe tasks)",
    "export": "a trained relative run as plain 2x2 RoPE with the basis folded into W_q, W_k",
    "bench": "speed and memory benchmarks of the encodings and of training steps",
    "paper": "write the paper's tables and figures from results/ and compile the PDF",
}


def usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, help_ in SUBCOMMANDS.items())
    return (
        f"usage: rope-blocks <command> [options]\n\ncommands:\n{rows}\n\n"
        "`rope-blocks <command> --help` describes a command's options."
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        print(f"rope-blocks: unknown command '{name}'.{hint}\n\n{usage()}", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"commands.{name}").main(rest) or 0)

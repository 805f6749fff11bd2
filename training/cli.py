"""The `rope-blocks` command: one entry point, a subcommand per job.

Each subcommand lives in its own module and is imported only when it runs, so
`rope-blocks prove` never imports torch and `rope-blocks check` never imports
torchvision.
"""
from __future__ import annotations

import importlib
import sys

# name -> (module with a `main(argv) -> int`, one-line help)
SUBCOMMANDS = {
    "prove": ("theory.prove", "run the symbolic and numeric proofs T1..T10 and write results/theorems.json"),
    "check": ("rope_blocks.check", "table of every family and block size: relative property, orthogonality, fast vs dense"),
    "train": ("training.main", "train one ViT (accepts the seed's command-line flags verbatim)"),
    "zoo": ("training.zoo", "train and compare the model zoo on a data set (digits offline)"),
    "export": ("training.export", "a trained relative run as plain 2x2 RoPE with the basis folded into W_q, W_k"),
    "paper": ("paper.build", "write the paper's tables and figures from results/ and compile paper/build/rope-blocks.pdf"),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items())
    return f"usage: rope-blocks <command> [options]\n\ncommands:\n{rows}\n\n`rope-blocks <command> --help` describes a command's options."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        import difflib

        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        print(f"rope-blocks: unknown command '{name}'.{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""The CIFAR10 table's command (paper/cifar.py) is the README's, wrapped to fit the page."""

from __future__ import annotations

from pathlib import Path

from paper import cifar

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_gives_exactly_the_command_the_paper_prints():
    assert f"```sh\n{cifar.CIFAR_COMMAND}```" in README.read_text()


def test_the_command_is_wrapped_to_the_page_and_says_the_same():
    block = cifar.wrapped(cifar.CIFAR_COMMAND)
    lines = block.split("\\begin{verbatim}\n")[1].split("\n\\end{verbatim}")[0].splitlines()
    assert all(len(line) <= 72 + len(" \\") for line in lines), max(lines, key=len)
    assert [w for w in " ".join(lines).split() if w != "\\"] == [w for w in cifar.CIFAR_COMMAND.split() if w != "\\"]
    assert "--optimizer adamw" in block and "--batch_size 64" in block, "an option keeps its value on its line"

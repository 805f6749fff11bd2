"""The README's usage example runs as written and says what it claims."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_usage_example_runs():
    usage = README.read_text().split("## Usage", 1)[1]
    code = re.search(r"```python\n(.*?)```", usage, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = {}
        exec(compile(code, str(README), "exec"), namespace)
    relative, error = out.getvalue().splitlines()[0].split()
    assert relative == "True" and float(error) <= 1e-12
    assert namespace["q2"].shape == namespace["q"].shape
    assert namespace["R"].shape == (4, 64, 32, 32) and namespace["A"].shape == (4, 2, 32, 32)


def test_readme_names_the_two_setup_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text

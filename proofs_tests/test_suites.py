"""The zoo's suites (training/suites.py) and the `rope-blocks zoo` command line (commands/zoo.py): which
models train on which data set with which seeds, and the models, suites and summaries it refuses."""

from __future__ import annotations

import json

import pytest

from commands import zoo as command
from training import models, probe_suite, suites


def nothing_written(root) -> bool:
    return not any(p.is_file() for p in root.rglob("*"))


def test_zoo_suite_groups(tmp_path):
    digits = suites.suite_groups("digits", quick=False)
    assert [(g.dataset, set(g.models), g.seeds) for g in digits] == [
        ("digits", set(models.model_names("digits")), (0, 1, 2)),
        ("digits", set(models.model_names("matched_digits")), (0, 1, 2, 3, 4)),
    ]
    assert suites.REFERENCE in digits[1].models
    groups = suites.suite_groups("probes", quick=False)
    assert [(g.dataset, g.seeds, g.epochs, g.lr) for g in groups] == [
        (task, probe_suite.SEEDS, epochs, lr) for task, _, epochs, lr in probe_suite.GROUPS.values()
    ]
    for g, size in zip(groups, probe_suite.GROUPS):
        assert all(models.size_of(m) == size and suites.training_set(m) == g.dataset for m in g.models)
    for suite in suites.SUITES:
        for g in suites.suite_groups(suite, quick=True):
            assert g.seeds == (0,) and all(m in models.REGISTRY for m in g.models)
    # --models: one group per size, with that size's seeds and epochs (so each table names one size).
    args = command.parse(
        [
            "--suite",
            "probes",
            "--models",
            "vit_no_rope_probe_extrapolate_content",
            "vit_mixed_rope_2D_2x2_probe_diagonal_content",
            "vit_no_rope_probe_quadrant",
            "--seeds",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    assert [(g.dataset, g.models, g.seeds) for g in args.groups] == [
        ("probe_extrapolate", ("vit_no_rope_probe_extrapolate_content",), (3,)),
        ("probe_diagonal", ("vit_mixed_rope_2D_2x2_probe_diagonal_content",), (3,)),
        ("probe_quadrant", ("vit_no_rope_probe_quadrant",), (3,)),
    ]
    # each group keeps its size's epochs and learning rate; --lr overrides every one
    sizes = ("probe_extrapolate_content", "probe_diagonal_content", "probe_quadrant")
    assert [(g.epochs, g.lr) for g in args.groups] == [probe_suite.GROUPS[s][2:] for s in sizes]
    assert {g.lr for g in args.groups} == {1e-3, 3e-3}
    args = command.parse(["--suite", "probes", "--lr", "5e-4", "--out", str(tmp_path)])
    assert {g.lr for g in args.groups} == {5e-4}
    args = command.parse(["--models", "vit_no_rope_digits", "vit_no_rope_matched_digits", "--out", str(tmp_path)])
    assert [(g.models, g.seeds) for g in args.groups] == [
        (("vit_no_rope_digits",), (0, 1, 2)),
        (("vit_no_rope_matched_digits",), (0, 1, 2, 3, 4)),
    ]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--suite", "probes", "--models", "vit_no_rope_digits"], ["vit_no_rope_digits", "--suite digits"]),
        (
            ["--models", "vit_mixed_rope_2D_2x2_probe_quadrant"],
            ["vit_mixed_rope_2D_2x2_probe_quadrant", "--suite probes"],
        ),
        (
            ["--suite", "digits", "--models", "vit_no_rope_matched_digits", "vit_no_rope_probe_quadrant_content"],
            ["vit_no_rope_probe_quadrant_content", "--suite probes"],
        ),
        (["--suite", "probes", "--models", "vit_no_rope_cifar10"], ["vit_no_rope_cifar10", "size of no suite"]),
        (["--models", "vit_no_rope_matched_cifar10"], ["vit_no_rope_matched_cifar10", "size of no suite"]),
    ],
)
def test_zoo_rejects_models_of_another_suite(tmp_path, capsys, argv, words):
    assert command.main([*argv, "--epochs", "1", "--jobs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks zoo: error: ") and "Traceback" not in err
    assert all(w in err for w in words), err
    assert nothing_written(tmp_path)


def test_zoo_rejects_an_unknown_suite(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        command.main(["--suite", "cifar", "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--suite" in err and "'cifar'" in err and "digits" in err and "probes" in err
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(
    "earlier",
    [
        {"suite": "digits", "command": "rope-blocks zoo --suite digits", "runs": []},
        {"command": "rope-blocks zoo --dataset digits", "runs": []},
    ],
)
def test_zoo_refuses_to_write_over_another_suites_summary(tmp_path, capsys, earlier):
    fake = tmp_path / "results/probes/summary.json"
    fake.parent.mkdir(parents=True)
    fake.write_text(json.dumps(earlier))
    before = fake.read_text()
    assert (
        command.main(
            [
                "--suite",
                "probes",
                "--models",
                "vit_no_rope_probe_quadrant",
                "--seeds",
                "0",
                "--epochs",
                "1",
                "--jobs",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks zoo: error: ") and str(fake) in err and earlier["command"] in err
    assert "another suite" in err and "--out" in err
    assert fake.read_text() == before
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [fake]
    # An unreadable summary is not overwritten either.
    fake.write_text("{not json")
    assert command.main(["--suite", "probes", "--models", "vit_no_rope_probe_quadrant", "--out", str(tmp_path)]) == 2
    assert "cannot be read" in capsys.readouterr().err and fake.read_text() == "{not json"


def test_zoo_rejects_unknown_models(tmp_path, capsys):
    assert command.main(["--models", "vit_liere_rope_2D_4x4_digit", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'vit_liere_rope_2D_4x4_digits'" in capsys.readouterr().err

"""`rope-blocks zoo` end to end (training/zoo.py): it trains, scores the best checkpoints, compares,
tabulates, and reads finished runs back instead of training them again."""

from __future__ import annotations

import json
import re

import pytest
import torch
from scipy import stats as scipy_stats

from commands import zoo as command
from training import checkpoint, data, evaluation, probe_suite, probes, suites
from training.evaluation import ExtraTest

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


INTERVAL = r"0\.\d{4} \[-?\d\.\d{4}, \d\.\d{4}\]"  # mean [95% interval], as in the summary tables


# One scenario end to end (train, tabulate, compare, read back), since each step needs the runs of the one before.
def test_zoo_digits_suite_trains_tabulates_compares_and_reuses(tmp_path, capsys):
    other = "vit_rope_2D_axial_2x2_matched_digits"
    argv = [
        "--models",
        "vit_no_rope_digits",
        suites.REFERENCE,
        other,
        "--seeds",
        "0",
        "1",
        "--epochs",
        "1",
        "--batch_size",
        "256",
        "--jobs",
        "1",
        "--out",
        str(tmp_path),
    ]
    # A summary from before the suites (no "suite" key) is the digits suite's: accepted and replaced.
    legacy = tmp_path / "results/digits/summary.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"command": "rope-blocks zoo --dataset digits", "runs": [], "failures": []}))
    assert command.main(argv) == 0
    summary = json.loads(legacy.read_text())
    assert summary["suite"] == "digits" and summary["command"].startswith("rope-blocks zoo")
    assert len(summary["runs"]) == 6 and not summary["failures"]
    assert summary["groups"] == [
        {"dataset": "digits", "models": ["vit_no_rope_digits"], "seeds": [0, 1], "epochs": 1},
        {"dataset": "digits", "models": [suites.REFERENCE, other], "seeds": [0, 1], "epochs": 1},
    ]
    for row in summary["runs"]:
        assert row["extra_acc"] == {} and not row["reused"] and row["dataset"] == "digits"
        result = json.loads((tmp_path / f"results/digits/{row['run_id']}.json").read_text())
        # Theory T5 on every trained relative run: its export to 2x2 RoPE gives its logits.
        if row["relative_by_theory"]:
            assert 0 <= row["export_error"] < 1e-5 and result["export_error"] == row["export_error"]
        else:
            assert row["export_error"] is None and "export_error" not in result
    # The best checkpoint, reloaded, scores what the result file says it scored on the test set.
    row = summary["runs"][-1]
    model, splits = checkpoint.load_run(tmp_path / f"runs/digits/{row['run_id']}/best.pt")[1], data.load("digits")
    test = ExtraTest(splits.test.images, splits.test.labels)
    assert evaluation.accuracy(model, test, splits) == pytest.approx(row["test_acc"])
    # The equivalence with the reference: one paired difference over the two seeds.
    (c,) = summary["equivalence"]["comparisons"]
    assert summary["equivalence"]["reference"] == suites.REFERENCE
    assert c["a"] == [other] and c["b"] == [suites.REFERENCE]
    acc = {(r["model"], r["seed"]): r["test_acc"] for r in summary["runs"]}
    diffs = [acc[other, s] - acc[suites.REFERENCE, s] for s in (0, 1)]
    assert c["seeds"] == [0, 1] and c["difference"] == pytest.approx(sum(diffs) / 2)
    if diffs[0] != diffs[1]:
        interval = scipy_stats.t.interval(0.95, 1, loc=sum(diffs) / 2, scale=scipy_stats.sem(diffs))
        assert c["ci"] == pytest.approx(interval)
    table = (tmp_path / "results/digits/summary.md").read_text()
    assert table.startswith("# digits zoo") and "| vit_no_rope_digits | 2 | " in table
    assert re.search(rf"\| {other} \| 2 \| {INTERVAL} \|", table), table
    assert re.search(
        r"\| rope_2D_axial_2x2 \| [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] "
        r"\| (equivalent|differs|undecided) \|",
        table,
    ), table
    assert f"Each matched model against {suites.REFERENCE}" in table
    capsys.readouterr()
    assert command.main(argv) == 0
    assert capsys.readouterr().out.count("(already trained)") == 6
    again = json.loads(legacy.read_text())
    assert all(r["reused"] for r in again["runs"]) and again["equivalence"] == summary["equivalence"]
    # Without the reference among the models there is nothing to compare with.
    assert command.main([*argv[:1], "vit_no_rope_digits", *argv[4:]]) == 0
    assert "Each matched model against" not in (tmp_path / "results/digits/summary.md").read_text()


def _probe_accuracies(model, task: str) -> tuple[dict, dict]:
    """Accuracy on the test split and the extra tests of seed 0, with images normalised here (blank -1,
    mark +1), and the classes the model answers on each."""
    accuracies, answers = {}, {}
    with torch.no_grad():
        for test, (images, labels) in {"test": probes.splits(task, 0)["test"], **probes.extra_tests(task, 0)}.items():
            guess = model(images.float() / 127.5 - 1).argmax(-1)
            accuracies[test], answers[test] = (guess == labels).double().mean().item(), set(guess.tolist())
    return accuracies, answers


def test_zoo_probes_suite_scores_the_extra_tests(tmp_path, capsys):
    names = {
        "vit_mixed_rope_2D_2x2_probe_quadrant": "probe_quadrant",
        "vit_rope_2D_axial_2x2_probe_extrapolate_content": "probe_extrapolate",
    }
    # Batches of 32: 128 steps, after which the quadrant model tells its images apart (with batches of 256 both
    # models answer one class whatever they see, and score that class's share under any labelling).
    argv = [
        "--suite",
        "probes",
        "--models",
        *names,
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--batch_size",
        "32",
        "--jobs",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert command.main(argv) == 0
    summary_path = tmp_path / "results/probes/summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["suite"] == "probes" and not summary["failures"] and len(summary["runs"]) == 2
    assert not (tmp_path / "results/digits").exists()
    assert set(summary["predictions"]) == set(probe_suite.STATEMENTS)
    # a partial suite: the quick head-level fit, and every estimate on one seed has no interval
    assert summary["predictions"]["P2"]["head_fit"]["starts"] == 1
    assert all(e["ci"] is None for p in summary["predictions"].values() for e in p["estimates"])
    varied = []
    for row in summary["runs"]:
        task = names[row["model"]]
        assert row["dataset"] == task and list(row["extra_acc"]) == list(probes.extra_tests(task, 0))
        assert (tmp_path / f"results/probes/{task}/{row['run_id']}.json").is_file()
        best = tmp_path / f"runs/probes/{task}/{row['run_id']}/best.pt"
        # The reloaded best checkpoint gives the recorded accuracies.
        measured, answers = _probe_accuracies(checkpoint.load_run(best)[1], task)
        assert measured == pytest.approx({"test": row["test_acc"], **row["extra_acc"]}, abs=1e-6), row["model"]
        varied += [test for test in row["extra_acc"] if len(answers[test]) > 1]
    assert varied, "no extra test where a model answers more than one class: the comparison above proves little"
    table = (tmp_path / "results/probes/summary.md").read_text()
    assert "| held-out quadrant acc | moved to a trained quadrant acc |" in table
    assert "| 12x12 grid acc | 16x16 grid acc |" in table
    assert all(f"{pid}: " in table for pid in probe_suite.STATEMENTS)
    capsys.readouterr()
    assert command.main(argv) == 0
    assert capsys.readouterr().out.count("(already trained)") == 2
    again = json.loads(summary_path.read_text())["runs"]
    assert [r["extra_acc"] for r in again] == [r["extra_acc"] for r in summary["runs"]]


def test_zoo_does_not_pass_off_a_run_with_other_settings(tmp_path, capsys):
    argv = [
        "--models",
        "vit_rope_2D_axial_2x2_digits",
        "--seeds",
        "0",
        "--batch_size",
        "256",
        "--jobs",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert command.main([*argv, "--epochs", "1"]) == 0
    result = tmp_path / "results/digits/vit_rope_2D_axial_2x2_digits_seed0.json"
    before = result.read_text()
    assert command.main([*argv, "--epochs", "2"]) == 1  # the 1-epoch run is neither reused nor overwritten
    assert "epochs: checkpoint 1, now 2" in capsys.readouterr().out and result.read_text() == before

"""The Fashion-MNIST suite (training/fashion_suite.py): its models, extra tests and comparisons, the ViT's
position conventions on other grids, and the quick suite end to end on small IDX files."""

from __future__ import annotations

import json
import re

import pytest
import torch
from test_fashion import fake_files, write_raw

import commands.zoo
import rope_blocks as rb
from records.model_id import ModelId
from training import data, fashion_suite, models, suites
from training.evaluation import ExtraTest


def test_the_suites_models_are_registered_at_one_width():
    names = fashion_suite.names()
    assert len(names) == 9 and all(n in models.REGISTRY for n in names)
    configs = [models.model_config(n, image_size=28, in_chans=1, num_classes=10) for n in names]
    assert {(c.dim, c.depth, c.heads, c.dim_head, c.patch_size, c.pool, c.dropout) for c in configs} == {
        (96, 4, 4, 24, 4, "mean", 0.0)
    }
    assert {c.grid for c in configs} == {7}
    families = {ModelId.parse(n).variant.label for n in names}
    assert families == {"none", "axial", "mixed", "commuting_mixed", "commuting_axial", "givens", "weighted", "liere"}
    assert all(suites.training_set(n) == "fashion" for n in names)


def test_comparisons_against_rope_mixed_are_bonferroni_corrected():
    comparisons = fashion_suite.comparisons()
    reference = "vit_mixed_rope_2D_2x2_fashion"
    assert len(comparisons) == 8 and {c.b.models for c in comparisons} == {(reference,)}
    assert reference not in {c.a.models[0] for c in comparisons}
    assert {(c.kind, c.margin) for c in comparisons} == {("equivalent", 0.01)}
    assert [c.level for c in comparisons] == pytest.approx([1 - 0.05 / 8] * 8)


def test_extra_tests_resize_and_move_by_whole_patches():
    images = torch.randint(1, 256, (6, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(6)
    splits = data.Splits(*(data.ImageTensors(images, labels) for _ in range(3)), 10, (0.3,), (0.3,))
    tests = fashion_suite.extra_tests(splits)
    assert list(tests) == [
        "40x40 grid",
        "40x40 rescaled",
        "56x56 grid",
        "56x56 rescaled",
        "canvas centred",
        "canvas top-left",
        "canvas bottom-right",
    ]
    assert (tests["56x56 rescaled"].size, tests["56x56 rescaled"].positions) == (56, "rescaled")
    for name, corner in (("centred", 8), ("top-left", 0), ("bottom-right", 16)):
        canvas = tests[f"canvas {name}"].images
        assert canvas.shape == (6, 1, 44, 44) and corner % 4 == 0  # whole 4x4 patches
        assert torch.equal(canvas[:, :, corner : corner + 28, corner : corner + 28], images)
        assert int(canvas.sum()) == int(images.sum())  # the rest is blank
    with pytest.raises(ValueError, match="outside a 44x44 canvas"):
        fashion_suite.on_canvas(images, 44, 17)
    with pytest.raises(ValueError, match="positions='nearest' is not one of grid, rescaled"):
        ExtraTest(images, labels, positions="nearest")


def test_rescaled_positions_span_the_training_grid():
    torch.manual_seed(0)
    model = models.build_model("vit_rope_2D_axial_2x2_fashion", image_size=28, in_chans=1, num_classes=10).eval()
    seen = []
    hook = model.encodings[0].register_forward_pre_hook(lambda m, args, kwargs: seen.append(args[2]), with_kwargs=True)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(model(x), model(x, positions="rescaled"))  # the same on the training grid
    seen.clear()
    model(torch.randn(2, 1, 56, 56), positions="rescaled")
    model(torch.randn(2, 1, 56, 56), positions="grid")
    hook.remove()
    rescaled, grid = seen[0], seen[-1]
    assert grid.max() == 13 and rescaled.max() == pytest.approx(6.0)  # 14 x 14 cells over 7 x 7's extent
    torch.testing.assert_close(rescaled, rb.grid_positions(14, 14) * (6 / 13))
    with pytest.raises(ValueError, match="positions='raster' is not one of 'grid', 'rescaled'"):
        model(x, positions="raster")


def test_a_fashion_model_is_refused_by_the_digits_suite():
    with pytest.raises(ValueError, match=r"not one of the digits suite's sizes \(for --suite fashion\)"):
        suites.select("digits", False, ["vit_mixed_rope_2D_2x2_fashion"], None, None)
    groups = suites.select("fashion", True, None, None, None)
    assert [(g.dataset, g.seeds, g.epochs, g.max_images) for g in groups] == [("fashion", (0,), 1, 1000)]


def test_quick_fashion_suite_end_to_end(tmp_path, capsys):
    data_path = write_raw(tmp_path / "data", fake_files(n_train=300, n_test=40))
    out = tmp_path / "zoo"
    argv = ["--suite", "fashion", "--quick", "--jobs", "1", "--out", str(out), "--data-path", str(data_path)]
    argv += ["--models", "vit_no_rope_fashion", "vit_mixed_rope_2D_2x2_fashion"]
    assert commands.zoo.main(argv) == 0
    summary = json.loads((out / "results/fashion/summary.json").read_text())
    assert summary["suite"] == "fashion" and summary["batch_size"] == 128 and summary["lr"] == 1e-3
    assert summary["groups"][0]["max_images"] == 1000 and len(summary["runs"]) == 2
    run = summary["runs"][0]
    assert set(run["extra_acc"]) == set(fashion_suite.extra_tests(_tiny()).keys())
    comparison = summary["equivalence"]["comparisons"][0]
    assert comparison["a"] == ["vit_no_rope_fashion"] and comparison["level"] == pytest.approx(1 - 0.05 / 8)
    result = json.loads((out / "results/fashion/vit_no_rope_fashion_seed0.json").read_text())
    assert result["extra_acc"] == run["extra_acc"]  # kept in the run's result file: read back without checkpoints
    (out / "runs/fashion/vit_no_rope_fashion_seed0/best.pt").unlink()
    assert commands.zoo.main(argv) == 0
    assert "99.375% interval over seeds, Bonferroni-corrected for 8 comparisons" in capsys.readouterr().out
    design = summary["design"]
    assert design["seeds"] == list(fashion_suite.SEEDS) and design["models"] == list(fashion_suite.names())
    assert design["statement"] == fashion_suite.__doc__ and re.fullmatch(r"[0-9a-f]{40}.*", design["commit"])
    text = (out / "results/fashion/summary.md").read_text()
    assert f"design: training/fashion_suite.py as of commit {design['commit']}" in text


def _tiny() -> data.Splits:
    part = data.ImageTensors(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64))
    return data.Splits(part, part, part, 10, (0.5,), (0.5,))

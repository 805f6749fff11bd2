"""How the paper names and groups the zoo's runs (paper/runs.py, paper/results.py), from names and result files only."""

from __future__ import annotations

from test_paper_fakes import make_results, summary

from paper.results import Results
from paper.runs import block_size, family, learning_rate, pooling, probe_models, short_name, size_group, size_of
from training import models, probe_suite


def test_a_models_name_gives_the_registrys_family_block_size_and_size():
    for model in models.model_names():
        v, size, _ = models.REGISTRY[model]
        design = v.options().get("design")
        assert family(model) == v.family + (f" {design}" if design else "") + (" 1D" if v.n_axes == 1 else ""), model
        assert block_size(model) == (None if v.family == "none" else v.block_size), model
        assert size_of(model) == models.size_of(model) and models.SIZES[size_of(model)] is size, model
        assert short_name(model) == model.removeprefix("vit_").removesuffix(f"_{size_of(model)}").replace("_", " ")


def test_a_probe_sizes_architecture_and_recipe_are_read_from_its_runs_result_files_and_group(tmp_path):
    results = make_results(tmp_path / "results")
    res, data = Results(results), summary(results, "probes")
    for size, (task, _, epochs, lr) in probe_suite.GROUPS.items():
        s = models.SIZES[size]
        patches = f"{s.patch_size}$\\times${s.patch_size} patches, " if s.patch_size > 1 else ""
        expected = f"depth {s.depth}, {patches}" + ("mean pooling" if s.pool == "mean" else "class token")
        expected += ", content tokens only" if s.content_only else ""
        assert pooling(res, probe_models(data, size)) == expected, size
        group = size_group(data, size)
        assert (group["dataset"], group["epochs"], learning_rate(data, group)) == (task, epochs, lr), size
    assert {models.SIZES[s].content_only for s in probe_suite.GROUPS} == {True, False}


def test_a_runs_own_file_is_found_in_either_layout(tmp_path):
    results = make_results(tmp_path / "results")
    res = Results(results)
    digits, probe = summary(results, "digits")["runs"][0], summary(results, "probes")["runs"][-1]
    assert res.history(digits) == [
        {"epoch": e, "train_loss": 1.0 / e, "val_acc": digits["val_acc"] * e / 3, "test_acc": digits["test_acc"]}
        for e in (1, 2, 3)
    ]
    assert res.run_file(probe)["model"] == probe["model"]
    assert res.run_file({"run_id": "vit_no_such_run_seed0"}) is None and res.history({"run_id": "nothing"}) is None

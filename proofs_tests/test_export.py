"""Export (theory T5) of this project's ViT (training/export.py) and the `rope-blocks export` command:
the exported 2x2 RoPE model gives the same logits and the same test accuracy.

rope_form itself, fold_qkv and the timm export are in test_rope_form.py.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import complex_rope, perturb

from commands import export as cli
from commands import train
from training import checkpoint, data, models
from training.checkpoint import load_run
from training.export import export_vit
from training.vit import ViT, ViTConfig

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- this project's ViT


def vit(family, k=2, dim_head=12, n_axes=2, pool="cls", share=False, image=6, **options) -> ViT:
    cfg = ViTConfig(
        image_size=image,
        in_chans=1,
        num_classes=5,
        dim=20,
        depth=2,
        heads=2,
        dim_head=dim_head,
        mlp_dim=24,
        family=family,
        n_axes=n_axes,
        block_size=k,
        enc_options=options,
        pool=pool,
        share_encoding=share,
    )
    model = ViT(cfg).eval()
    perturb(model, 0.1)
    return model


EXPORT_CASES = [
    pytest.param(lambda: vit("axial", n_axes=1), id="axial-1d"),
    pytest.param(lambda: vit("mixed", pool="mean", per_head=False), id="mixed-mean-shared-heads"),
    pytest.param(lambda: vit("givens", 3, dim_head=13, plane=(1, 2)), id="givens-3x3-odd"),
    pytest.param(lambda: vit("liere", 2), id="liere-2x2"),
    *(
        pytest.param(
            lambda b=b, k=k, i=i: vit(
                "commuting",
                k,
                dim_head=2 * k + 1 if i % 2 else 2 * k,
                n_axes=1 + i % 2,
                pool=("cls", "mean")[i // 2 % 2],
                share=i % 3 == 0,
                basis=b,
                design=("axial", "mixed")[i % 2],
                per_head=i % 4 != 1,
            ),
            id=f"commuting-{b}-k{k}",
        )
        for i, (b, k) in enumerate(zip(("fixed", "stiefel", "cayley", "matrix_exp") * 2, (2, 3, 4, 8, 8, 4, 3, 2)))
    ),
    *(
        pytest.param(lambda name=name: _registered(name), id=name)
        for name in (
            "vit_commuting_mixed_rope_2D_4x4_matched_digits",
            "vit_rope_2D_axial_3x3_2_digits",
            "vit_commuting_axial_rope_2D_6x6_digits",
            "vit_mixed_rope_2D_2x2_probe_quadrant",
        )
    ),
]


def _registered(name: str) -> ViT:
    image = 16 if models.size_of(name) == "probe_quadrant" else 8  # 2x2 patches: an 8x8 grid
    model = models.build_model(name, image_size=image, in_chans=1, num_classes=10).eval()
    perturb(model, 0.1)
    return model


@pytest.mark.parametrize("make", EXPORT_CASES)
def test_export_vit_keeps_the_logits(make):
    torch.manual_seed(1)
    model = make()
    exported = export_vit(model)
    cfg = exported.cfg
    assert (cfg.family, cfg.block_size, cfg.enc_options) == ("mixed", 2, {"per_head": True})
    assert (cfg.n_axes, cfg.pool, cfg.share_encoding, cfg.pos_scale) == (
        model.cfg.n_axes,
        model.cfg.pool,
        model.cfg.share_encoding,
        model.cfg.pos_scale,
    )
    assert len(exported.encodings) == len(model.encodings)
    x = torch.randn(4, 1, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max() < 1e-5
    assert not exported.training


def test_complex_rope_on_the_folded_projections_gives_the_attention_logits():
    torch.manual_seed(2)
    model = vit("commuting", 3, dim_head=13, basis="cayley", design="mixed")
    exported = export_vit(model)
    pos = torch.cartesian_prod(torch.arange(4.0), torch.arange(5.0))
    x = torch.randn(3, len(pos), model.cfg.dim)
    for layer in range(model.cfg.depth):

        def qk(m, layer=layer):
            return m.blocks[layer].attn.qkv(x).view(3, len(pos), 3, 2, 13).permute(2, 0, 3, 1, 4)[:2]

        with torch.no_grad():
            q, k = model.encodings[layer].forward(*qk(model), pos)  # the full rotation R(p), not the plane basis
            table = exported.encodings[layer].freqs().squeeze(2).double()
            fq, fk = (complex_rope(t.double(), table, pos) for t in qk(exported))
        assert torch.allclose(fq @ fk.transpose(-1, -2), (q @ k.transpose(-1, -2)).double(), atol=1e-5)


def test_export_vit_refuses_models_without_an_exact_form():
    with pytest.raises(ValueError, match="family is 'none': it has no rotary encoding to export"):
        export_vit(vit("none"))
    with pytest.raises(ValueError, match=r"'weighted' family with block_size=3 .* not relative"):
        export_vit(vit("weighted", 3))
    with pytest.raises(ValueError, match=r"'liere' family with block_size=4 .* not relative"):
        export_vit(vit("liere", 4))


# ---------------------------------------------------------------- `rope-blocks export`


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny digits run, trained for one epoch: (run folder, its result record)."""
    out = tmp_path_factory.mktemp("export-run")
    torch.set_num_threads(1)
    code = train.main(
        [
            "--model",
            "vit_commuting_mixed_rope_2D_4x4_matched_digits",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--batch_size",
            "32",
            "--lr",
            "0.003",
            "--warmup_epochs",
            "0",
            "--run_id",
            "r",
            "--num_workers",
            "0",
            "--out",
            str(out),
            "--no_progress",
        ]
    )
    assert code == 0
    return out, json.loads((out / "results" / "digits" / "r.json").read_text())


def export(*argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_cli_exports_a_run_with_the_same_test_accuracy(trained_run, tmp_path, capsys):
    run, result = trained_run
    source = run / "runs" / "digits" / "r" / "best.pt"
    code, out = export(source, "--out", tmp_path / "exported.pt", capsys=capsys)
    assert code == 0, out.err
    # One epoch leaves the logits of the classes close together: argmax ties flip at the slightest difference.
    accuracy = result["best"]["test_acc"]
    assert f"before {accuracy:.4f}, after {accuracy:.4f}" in out.out
    report = json.loads((tmp_path / "exported.json").read_text())
    assert report["test_acc_before"] == report["test_acc_after"] == accuracy
    assert report["max_logit_difference"] < 1e-4 and report["family"] == "commuting"
    assert len(report["tables"]) == 2 and len(report["tables"][0]) == 2  # layers, heads
    assert len(report["tables"][0][0]) == 12 and len(report["tables"][0][0][0]) == 2  # D // 2 pairs, 2 axes
    exported, original = load_run(tmp_path / "exported.pt")[1], load_run(source)[1]
    assert exported.cfg.family == "mixed"
    digits = data.load("digits")
    x = digits.prepare(digits.test.images[:16])
    with torch.no_grad():
        assert (exported(x) - original(x)).abs().max() < 1e-4


def test_cli_errors(trained_run, tmp_path, capsys):
    run, _ = trained_run
    source = run / "runs" / "digits" / "r" / "best.pt"

    def error(*argv) -> str:
        code, out = export(*argv, capsys=capsys)
        assert code == 2 and out.err.startswith("rope-blocks export: error: "), out.err
        assert "Traceback" not in out.err
        return out.err

    assert "no such checkpoint file" in error(tmp_path / "missing.pt", "--out", tmp_path / "a.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    assert "corrupt or not a rope-blocks checkpoint" in error(tmp_path / "garbage.pt", "--out", tmp_path / "a.pt")
    checkpoint.save({"config": {}, "model": {}}, tmp_path / "other.pt")
    assert "is not the checkpoint of a ViT run" in error(tmp_path / "other.pt", "--out", tmp_path / "a.pt")
    weighted = vit("weighted", 3)
    checkpoint.save(
        {"model_config": dataclasses.asdict(weighted.cfg), "model": weighted.state_dict()}, tmp_path / "weighted.pt"
    )
    assert "not relative" in error(tmp_path / "weighted.pt", "--out", tmp_path / "a.pt")
    assert "is the checkpoint being exported" in error(source, "--out", source)
    assert "would also be the name of the JSON report" in error(source, "--out", tmp_path / "a.json")
    assert "pass the --dataset the run was trained on" in error(
        source, "--out", tmp_path / "a.pt", "--dataset", "synthetic"
    )
    assert not (tmp_path / "a.pt").exists()
    (tmp_path / "taken.pt").write_text("keep me")
    assert "already exist" in error(source, "--out", tmp_path / "taken.pt")
    assert (tmp_path / "taken.pt").read_text() == "keep me"
    code, _ = export(source, "--out", tmp_path / "taken.pt", "--overwrite", capsys=capsys)
    assert code == 0 and load_run(tmp_path / "taken.pt")[1].cfg.family == "mixed"
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(source)])  # no --out: argparse's usage error
    assert exit_.value.code == 2
    assert "rope-blocks export: error: the following arguments are required: --out" in capsys.readouterr().err


# ---------------------------------------------------------------- the committed run

COMMITTED_RUN = "vit_rope_2D_axial_3x3_0_matched_digits_seed3"


def test_export_reproduces_the_committed_digits_run(tmp_path, capsys):
    """The committed checkpoint of a digits zoo run exports to 2x2 RoPE with its recorded test accuracy."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "results"
    recorded = json.loads((root / f"digits/{COMMITTED_RUN}.json").read_text())["best"]["test_acc"]
    out = tmp_path / "exported.pt"
    assert cli.main([str(root / f"export/{COMMITTED_RUN}.pt"), "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["test_acc_before"] == report["test_acc_after"] == recorded
    assert report["max_logit_difference"] < 1e-4 and report["family"] == "givens"

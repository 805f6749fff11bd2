"""Export (theory T5): every relative design is 2x2 RoPE in a basis that folds into W_q and W_k.

Checked against the encodings' dense rotations, against an independent complex-number RoPE
written here, on this project's ViT, through the `rope-blocks export` command, and on timm.
"""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import rope_blocks as rb
from rope_blocks.basis import LEARNED_BASES
from rope_blocks.export import RoPEForm, export_timm, fold_qkv, rope_form
from training import checkpoint, data, main, models
from training import export as cli
from training.vit import ViT, ViTConfig
from training.checkpoint import load_run


# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def complex_rope(x: torch.Tensor, freqs: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """RoPE as complex numbers, written independently of the library: (..., H, N, D) x, (H, D // 2, n)
    freqs, (N, n) pos; the pair (x_2i, x_2i+1) is x_2i + i x_2i+1 times exp(i freqs_i . p)."""
    pairs = freqs.shape[1]
    z = torch.complex(x[..., 0:2 * pairs:2], x[..., 1:2 * pairs:2])
    turned = z * torch.polar(torch.ones(()).to(freqs.dtype), torch.einsum("na,hia->hni", pos.to(freqs), freqs))
    out = torch.stack((turned.real, turned.imag), dim=-1).flatten(-2)
    return torch.cat((out, x[..., 2 * pairs:]), dim=-1)


def perturb(module: torch.nn.Module, scale: float = 0.3) -> None:
    """Random non-trivial learned parameters (a Stiefel basis keeps its random rotation: it must stay on
    its manifold)."""
    with torch.no_grad():
        for p in module.parameters():
            if type(p) is torch.nn.Parameter:
                p.add_(scale * torch.randn_like(p))


# ---------------------------------------------------------------- rope_form

def _commuting_cases():
    """Every basis x k in (2, 3, 4, 8), alternating design, axes and per_head; head_dim 2k + 1, which k never
    divides."""
    for i, (basis, k) in enumerate((b, k) for b in ("fixed", *LEARNED_BASES) for k in (2, 3, 4, 8)):
        options = {"basis": basis, "design": ("axial", "mixed")[i % 2], "per_head": i % 3 != 0}
        yield pytest.param("commuting", k, 2 * k + 1, 1 + (i // 2) % 2, options, id=f"commuting-{basis}-k{k}-{i}")


FORM_CASES = [
    pytest.param("axial", 2, 16, 1, {}, id="axial-1d"),
    pytest.param("axial", 2, 16, 2, {}, id="axial-2d"),
    pytest.param("mixed", 2, 15, 2, {}, id="mixed-2d-odd-dim"),
    pytest.param("mixed", 2, 16, 1, {"per_head": False}, id="mixed-1d-shared"),
    *(pytest.param("givens", k, 4 * k + 1, 2, {"plane": plane}, id=f"givens-k{k}-{plane}")
      for k, plane in ((3, (0, 1)), (3, (0, 2)), (3, (1, 2)), (4, (1, 3)), (5, (2, 4)), (6, (0, 5)))),
    *_commuting_cases(),
    pytest.param("liere", 2, 9, 2, {}, id="liere-2x2"),
]


@pytest.mark.parametrize("family, k, dim, n_axes, options", FORM_CASES)
def test_rope_form_is_the_encoding(family, k, dim, n_axes, options):
    torch.manual_seed(0)
    enc = rb.build(family, head_dim=dim, num_heads=3, n_axes=n_axes, block_size=k, **options)
    perturb(enc)
    form = rope_form(enc)
    assert isinstance(form, RoPEForm)
    assert form.basis.shape == (3, dim, dim) and form.freqs.shape == (3, dim // 2, n_axes)
    assert form.basis.dtype == form.freqs.dtype == torch.float64
    eye = torch.eye(dim, dtype=torch.float64)
    tol = 1e-6 if options.get("basis") == "stiefel" else 1e-12  # a Stiefel basis is stored in float32
    assert torch.allclose(form.basis.transpose(-1, -2) @ form.basis, eye.expand(3, -1, -1), atol=tol)
    # Pairs past the rotated planes (the odd dim of odd-k blocks, the dims past the last block) stay still.
    assert not form.freqs[:, enc.rotated_dims // 2:].any()
    assert form.freqs[:, : enc.rotated_dims // 2].abs().sum(-1).min() > 0
    # R(p) x = B P(p) B^T x at every position, P RoPE's interleaved pairs (the complex form above).
    pos = torch.randn(6, n_axes, dtype=torch.float64) * 4
    x = torch.randn(3, 6, dim, dtype=torch.float64)  # (H, N, D): one vector per head and position
    expected = (enc.rotation(pos) @ x.unsqueeze(-1)).squeeze(-1)
    got = complex_rope(x @ form.basis, form.freqs, pos) @ form.basis.transpose(-1, -2)
    assert torch.allclose(got, expected, atol=1e-12)
    assert torch.allclose(form.rotation(pos), enc.rotation(pos), atol=1e-12)


@pytest.mark.parametrize("family, k, n_axes, pattern", [
    ("weighted", 3, 2, r"not relative: its blocks are not even orthogonal \(theory T7\)"),
    ("weighted", 4, 1, r"not relative: its blocks are not even orthogonal \(theory T7\)"),
    ("weighted", 2, 2, r"block_size=2 is relative .* build the model as family 'axial'"),
    ("liere", 4, 2, r"not relative: its generators do not commute \(theory T9\)"),
    ("liere", 3, 1, r"n_axes=1, block_size=3 is relative .* does not compute the plane basis"),
    ("none", 2, 2, r"'none' family rotates nothing, so there is nothing to export"),
])
def test_rope_form_refuses_what_has_no_2x2_form(family, k, n_axes, pattern):
    enc = rb.build(family, head_dim=12, num_heads=2, n_axes=n_axes, block_size=k)
    with pytest.raises(ValueError, match=pattern):
        rope_form(enc)


# ---------------------------------------------------------------- this project's ViT

def vit(family, k=2, dim_head=12, n_axes=2, pool="cls", share=False, image=6, **options) -> ViT:
    cfg = ViTConfig(image_size=image, in_chans=1, num_classes=5, dim=20, depth=2, heads=2, dim_head=dim_head,
                    mlp_dim=24, family=family, n_axes=n_axes, block_size=k, enc_options=options, pool=pool,
                    share_encoding=share)
    model = ViT(cfg).eval()
    perturb(model, 0.1)
    return model


EXPORT_CASES = [
    pytest.param(lambda: vit("axial", n_axes=1), id="axial-1d"),
    pytest.param(lambda: vit("mixed", pool="mean", per_head=False), id="mixed-mean-shared-heads"),
    pytest.param(lambda: vit("givens", 3, dim_head=13, plane=(1, 2)), id="givens-3x3-odd"),
    pytest.param(lambda: vit("liere", 2), id="liere-2x2"),
    *(pytest.param(lambda b=b, k=k, i=i: vit("commuting", k, dim_head=2 * k + 1 if i % 2 else 2 * k,
                                             n_axes=1 + i % 2, pool=("cls", "mean")[i // 2 % 2], share=i % 3 == 0,
                                             basis=b, design=("axial", "mixed")[i % 2], per_head=i % 4 != 1),
                   id=f"commuting-{b}-k{k}")
      for i, (b, k) in enumerate(zip(("fixed", "stiefel", "cayley", "matrix_exp") * 2, (2, 3, 4, 8, 8, 4, 3, 2)))),
    *(pytest.param(lambda name=name: _registered(name), id=name) for name in (
        "vit_commuting_mixed_rope_2D_4x4_matched_digits", "vit_rope_2D_axial_3x3_2_digits",
        "vit_commuting_axial_rope_2D_6x6_digits", "vit_mixed_rope_2D_2x2_digits_canvas")),
]


def _registered(name: str) -> ViT:
    image = 16 if models.size_of(name) == "digits_canvas" else 8
    model = models.build_model(name, image_size=image, in_chans=1, num_classes=10).eval()
    perturb(model, 0.1)
    return model


@pytest.mark.parametrize("make", EXPORT_CASES)
def test_export_vit_keeps_the_logits(make):
    torch.manual_seed(1)
    model = make()
    exported = cli.export_vit(model)
    cfg = exported.cfg
    assert (cfg.family, cfg.block_size, cfg.enc_options) == ("mixed", 2, {"per_head": True})
    assert (cfg.n_axes, cfg.pool, cfg.share_encoding, cfg.pos_scale) == (
        model.cfg.n_axes, model.cfg.pool, model.cfg.share_encoding, model.cfg.pos_scale)
    assert len(exported.encodings) == len(model.encodings)
    x = torch.randn(4, 1, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max() < 1e-5
    assert not exported.training


def test_complex_rope_on_the_folded_projections_gives_the_attention_logits():
    torch.manual_seed(2)
    model = vit("commuting", 3, dim_head=13, basis="cayley", design="mixed")
    exported = cli.export_vit(model)
    pos = torch.cartesian_prod(torch.arange(4.0), torch.arange(5.0))
    x = torch.randn(3, len(pos), model.cfg.dim)
    for layer in range(model.cfg.depth):
        def qk(m):
            return m.blocks[layer].attn.qkv(x).view(3, len(pos), 3, 2, 13).permute(2, 0, 3, 1, 4)[:2]
        with torch.no_grad():
            q, k = model.encodings[layer].forward(*qk(model), pos)  # the full rotation R(p), not the plane basis
            table = exported.encodings[layer].freqs().squeeze(2).double()
            fq, fk = (complex_rope(t.double(), table, pos) for t in qk(exported))
        assert torch.allclose(fq @ fk.transpose(-1, -2), (q @ k.transpose(-1, -2)).double(), atol=1e-5)


def test_export_vit_refuses_models_without_an_exact_form():
    with pytest.raises(ValueError, match="family is 'none': it has no rotary encoding to export"):
        cli.export_vit(vit("none"))
    with pytest.raises(ValueError, match=r"'weighted' family with block_size=3 .* not relative"):
        cli.export_vit(vit("weighted", 3))
    with pytest.raises(ValueError, match=r"'liere' family with block_size=4 .* not relative"):
        cli.export_vit(vit("liere", 4))


def test_fold_qkv_leaves_values_alone_and_checks_shapes():
    basis = rope_form(rb.build("commuting", head_dim=4, num_heads=2, block_size=4, design="mixed")).basis
    w = torch.randn(24, 5)
    folded = fold_qkv(w, basis)
    assert torch.equal(folded[16:], w[16:]) and not torch.allclose(folded[:8], w[:8])
    with pytest.raises(ValueError, match="3 x H x D rows"):
        fold_qkv(torch.randn(25, 5), basis)
    with pytest.raises(ValueError, match="the 8 = H x D query or key rows"):
        fold_qkv(torch.randn(30, 5), basis)


# ---------------------------------------------------------------- `rope-blocks export`

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny digits run, trained for one epoch: (run folder, its result record)."""
    out = tmp_path_factory.mktemp("export-run")
    torch.set_num_threads(1)
    code = main.main(["--model", "vit_commuting_mixed_rope_2D_4x4_matched_digits", "--dataset", "digits",
                      "--epochs", "1", "--batch_size", "32", "--lr", "0.003", "--warmup_epochs", "0",
                      "--run_id", "r", "--num_workers", "0", "--out", str(out), "--no_progress"])
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
    checkpoint.save({"model_config": dataclasses.asdict(weighted.cfg), "model": weighted.state_dict()},
                    tmp_path / "weighted.pt")
    assert "not relative" in error(tmp_path / "weighted.pt", "--out", tmp_path / "a.pt")
    assert "is the checkpoint being exported" in error(source, "--out", source)
    assert "would also be the name of the JSON report" in error(source, "--out", tmp_path / "a.json")
    assert "pass the --dataset the run was trained on" in error(source, "--out", tmp_path / "a.pt",
                                                               "--dataset", "synthetic")
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


# ---------------------------------------------------------------- timm (optional)

def converted_timm(family, k, qk_norm=False, **options):
    pytest.importorskip("timm")
    from timm.models.vision_transformer import VisionTransformer

    from rope_blocks import timm_vit

    torch.manual_seed(3)
    model = VisionTransformer(img_size=16, patch_size=4, embed_dim=48, depth=2, num_heads=2, num_classes=5,
                              qk_norm=qk_norm).eval()
    model = timm_vit.convert(model, family, block_size=k, **options)
    perturb(model, 0.1)  # the qkv biases too
    return model


TIMM_CASES = [
    ("axial", 2, {}), ("mixed", 2, {"n_axes": 1}), ("givens", 3, {"plane": (0, 2)}), ("liere", 2, {}),
    *(("commuting", k, {"basis": basis, "design": ("axial", "mixed")[i % 2]})
      for i, (basis, k) in enumerate((b, k) for b in ("fixed", *LEARNED_BASES) for k in (2, 3, 4, 8)))]


@pytest.mark.parametrize("family, k, options", TIMM_CASES, ids=lambda c: str(c))
def test_export_timm_keeps_the_logits(family, k, options):
    from rope_blocks import timm_vit

    model = converted_timm(family, k, **options)
    exported = export_timm(model)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max() < 1e-5
    attentions = timm_vit.rotary_attentions(exported)
    assert all(type(a.rope).__name__ == "MixedRoPE" and a.rope.block_size == 2 for a in attentions)
    assert model.blocks[0].attn.rope.family == family  # the original is left as it was
    assert {f"blocks.{i}.attn.rope.freqs.freqs" for i in range(2)} <= exported.no_weight_decay()


def test_export_timm_refuses():
    for family, k, pattern in (("weighted", 3, "T7"), ("liere", 4, "T9")):
        with pytest.raises(ValueError, match=f"not relative: .*{pattern}"):
            export_timm(converted_timm(family, k))
    with pytest.raises(ValueError, match=r"q_norm is LayerNorm.* does not commute with the basis"):
        export_timm(converted_timm("commuting", 4, qk_norm=True))
    with pytest.raises(ValueError, match="no rotary attention to export"):
        export_timm(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------- the committed run

COMMITTED_RUN = "vit_rope_2D_axial_3x3_0_matched_digits_seed3"


def test_export_reproduces_the_committed_digits_run(tmp_path, capsys):
    """The committed checkpoint of a digits zoo run exports to 2x2 RoPE with its recorded test accuracy."""
    import json
    import pathlib

    from training import export

    root = pathlib.Path(__file__).resolve().parents[1] / "results"
    recorded = json.loads((root / f"digits/{COMMITTED_RUN}.json").read_text())["best"]["test_acc"]
    out = tmp_path / "exported.pt"
    assert export.main([str(root / f"export/{COMMITTED_RUN}.pt"), "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["test_acc_before"] == report["test_acc_after"] == recorded
    assert report["max_logit_difference"] < 1e-4 and report["family"] == "givens"

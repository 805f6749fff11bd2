"""Export to timm's own RoPE-Mixed ViT (rope_blocks/timm_eva.py, training/export_timm.py).

Exactness is measured with timm alone: each export is saved (state dict + JSON), then loaded in a separate
process in which ``import rope_blocks`` (and every package of this project) fails, by
``timm.create_model(name, **kwargs)`` and ``load_state_dict(strict=True)``; its logits must equal the
original model's within 1e-5 of their scale, on the training grid and on a larger one. The command and the
refusals are in test_timm_export_cli.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

timm = pytest.importorskip("timm")

from conftest import PYTHON, REPO, cpu_env, perturb  # noqa: E402
from timm.layers.pos_embed_sincos import RotaryEmbeddingMixed, apply_rot_embed_cat  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

import rope_blocks as rb  # noqa: E402
from rope_blocks import timm_vit  # noqa: E402
from rope_blocks.export import rope_form, table_rope  # noqa: E402
from rope_blocks.timm_eva import GridPositions, export_eva, mixed_table  # noqa: E402
from training.export_timm import vit_to_eva  # noqa: E402
from training.vit import ViT, ViTConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

# Run in a fresh interpreter: loads each export with timm alone and writes its logits (and accuracy).
TIMM_ONLY = r"""
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rope_blocks", "training", "records", "commands"):
            raise ImportError(f"{name} is kept out: this process has timm alone")

sys.meta_path.insert(0, Refuse())
try:
    import rope_blocks
except ImportError:
    pass
else:
    raise SystemExit("import rope_blocks did not fail")
import timm, torch

results = {}
for job in json.load(open(sys.argv[1])):
    meta = json.load(open(job["meta"]))
    model = timm.create_model(meta["model_name"], pretrained=False, **meta["kwargs"])
    model.load_state_dict(torch.load(job["state"], weights_only=True), strict=True)
    inputs = torch.load(job["inputs"], weights_only=True)
    with torch.no_grad():
        logits = [model.eval()(x) for x in inputs["images"]]
    out = {"logits": logits}
    if "labels" in inputs:
        out["accuracy"] = (logits[0].argmax(-1) == inputs["labels"]).sum().item() / len(inputs["labels"])
    results[job["name"]] = out
torch.save(results, sys.argv[2])
"""


def run_timm_alone(jobs: list[dict], folder) -> dict:
    """{name: {"logits": [...], "accuracy": ...}} of each job's export, computed by timm alone."""
    (folder / "jobs.json").write_text(json.dumps(jobs))
    script = folder / "timm_only.py"
    script.write_text(TIMM_ONLY)
    args = [PYTHON, str(script), str(folder / "jobs.json"), str(folder / "results.pt")]
    subprocess.run(args, check=True, cwd=REPO, env=cpu_env(), timeout=600)
    return torch.load(folder / "results.pt", weights_only=True)


def project_vit(family, k=2, dim_head=12, n_axes=2, pool="cls", share=False, **options) -> ViT:
    """This project's ViT on 8x8 images of 2x2 patches (a 4x4 grid), dropout on, 2 heads, perturbed."""
    cfg = ViTConfig(image_size=8, in_chans=1, num_classes=5, patch_size=2, dim=2 * dim_head, depth=2, heads=2,
                    dim_head=dim_head, mlp_dim=4 * dim_head, dropout=0.1, family=family, n_axes=n_axes,
                    block_size=k, enc_options=options, pool=pool, share_encoding=share)  # fmt: skip
    model = ViT(cfg).eval()
    perturb(model, 0.1)
    return model


def timm_vit_converted(family, k=2, n_axes=2, dynamic=True, vit_args=None, **options) -> VisionTransformer:
    """timm's ViT on 16x16 images of 4x4 patches (a 4x4 grid), 2 heads of width 24, qkv biases, converted."""
    args = dict(img_size=16, patch_size=4, embed_dim=48, depth=2, num_heads=2, num_classes=5, dynamic_img_size=dynamic)
    model = VisionTransformer(**{**args, **(vit_args or {})}).eval()
    timm_vit.convert(model, family, block_size=k, n_axes=n_axes, **options)
    perturb(model, 0.1)  # the qkv biases too: the key bias is rotated, so it must survive the export
    return model


# name -> (model, input sizes: the training grid and a larger one, or the training grid alone)
SMALL, LARGE = ((1, 8, 8), (1, 12, 16)), ((3, 16, 16), (3, 24, 32))
CASES = {
    "vit-axial": lambda: (project_vit("axial"), SMALL),
    "vit-mixed-mean": lambda: (project_vit("mixed", pool="mean"), SMALL),
    "vit-givens3": lambda: (project_vit("givens", 3, plane=(0, 2)), SMALL),
    "vit-commuting4-mixed-cayley": lambda: (project_vit("commuting", 4, design="mixed", basis="cayley"), SMALL),
    "vit-commuting4-axial-stiefel-shared": lambda: (
        project_vit("commuting", 4, share=True, design="axial", basis="stiefel"),
        SMALL,
    ),
    "vit-commuting8-mixed-exp-k-not-dividing": lambda: (
        project_vit("commuting", 8, dim_head=20, design="mixed", basis="matrix_exp"),
        SMALL,
    ),
    "vit-commuting8-axial-cayley": lambda: (project_vit("commuting", 8, dim_head=16, design="axial"), SMALL),
    "vit-liere2": lambda: (project_vit("liere", 2), SMALL),
    "vit-axial-raster-fixed-grid": lambda: (project_vit("axial", n_axes=1), SMALL[:1]),
    "timm-axial": lambda: (timm_vit_converted("axial"), LARGE),
    "timm-mixed-registers": lambda: (timm_vit_converted("mixed", vit_args={"reg_tokens": 2}), LARGE),
    "timm-givens3-avg": lambda: (
        timm_vit_converted("givens", 3, plane=(1, 2), vit_args={"class_token": False, "global_pool": "avg"}),
        LARGE,
    ),
    "timm-commuting4-mixed-cayley-layerscale": lambda: (
        timm_vit_converted("commuting", 4, design="mixed", vit_args={"init_values": 0.1}),
        LARGE,
    ),
    "timm-commuting8-axial-stiefel": lambda: (
        timm_vit_converted("commuting", 8, design="axial", basis="stiefel"),
        LARGE,
    ),  # fmt: skip
    "timm-commuting4-axial-exp-prenorm": lambda: (
        timm_vit_converted("commuting", 4, design="axial", basis="matrix_exp", vit_args={"pre_norm": True}),
        LARGE,
    ),
    "timm-commuting8-mixed-abs-embed": lambda: (
        timm_vit_converted("commuting", 8, design="mixed", keep_pos_embed=True, vit_args={"no_embed_class": True}),
        LARGE,
    ),
    "timm-liere2-unit-fixed-grid": lambda: (timm_vit_converted("liere", 2), LARGE[:1]),
}


def export_of(model):
    return vit_to_eva(model) if isinstance(model, ViT) else export_eva(model)


@pytest.fixture(scope="module")
def timm_alone(tmp_path_factory):
    """{case: (the original's logits per input, timm alone's, the export)}: one subprocess for all cases."""
    folder = tmp_path_factory.mktemp("timm-alone")
    torch.manual_seed(0)
    jobs, originals = [], {}
    for name, make in CASES.items():
        model, sizes = make()
        export = export_of(model)
        images = [torch.randn(2, *size) for size in sizes]
        with torch.no_grad():
            originals[name] = ([model(x) for x in images], export)
        torch.save({"images": images}, folder / f"{name}.inputs.pt")
        meta = export.save(folder / f"{name}.pth")
        jobs.append({"name": name, "meta": str(meta), "state": str(folder / f"{name}.pth"),
                     "inputs": str(folder / f"{name}.inputs.pt")})  # fmt: skip
    results = run_timm_alone(jobs, folder)
    return {name: (logits, results[name]["logits"], export) for name, (logits, export) in originals.items()}


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / a.abs().max()).item()


@pytest.mark.parametrize("name", CASES)
def test_timm_alone_gives_the_same_logits_on_both_grids(timm_alone, name):
    expected, got, export = timm_alone[name]
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        assert relative_difference(a, b) < 1e-5, (name, a.shape, relative_difference(a, b))
    assert export.kwargs["rope_type"] == "mixed" and export.model_name.endswith("_rope_mixed_224")
    assert export.kwargs["dynamic_img_size"] == (len(expected) == 2) and bool(export.fixed_grid) != (len(got) == 2)


def test_fixed_grid_exports_refuse_other_sizes_rather_than_compute_other_angles():
    for model, size in ((project_vit("axial", n_axes=1), (1, 12, 12)), (timm_vit_converted("liere", 2), (3, 24, 32))):
        export = export_of(model)
        assert "training grid only" in export.fixed_grid
        with pytest.raises(AssertionError, match="Input height .* doesn't match model"):
            export.create()(torch.randn(1, *size))


def test_the_residual_scale_carries_the_norms_eps():
    export = vit_to_eva(project_vit("axial"))  # nn.LayerNorm's eps 1e-5, Eva's LayerNorm 1e-6
    assert export.residual_scale == pytest.approx(0.1**0.5)
    assert torch.equal(export.state_dict["blocks.0.gamma_1"], torch.full((24,), 0.1**0.5))
    assert export_eva(timm_vit_converted("axial")).residual_scale == 1.0  # timm's ViT: the same eps


def test_dropout_rates_carry_over():
    kwargs = vit_to_eva(project_vit("axial")).kwargs
    assert kwargs["pos_drop_rate"] == kwargs["attn_drop_rate"] == kwargs["proj_drop_rate"] == 0.1
    rates = {"pos_drop_rate": 0.2, "attn_drop_rate": 0.3, "proj_drop_rate": 0.4, "drop_rate": 0.5,
             "drop_path_rate": 0.25}  # fmt: skip
    kwargs = export_eva(timm_vit_converted("axial", vit_args=rates)).kwargs
    assert {k: kwargs[k] for k in rates} == pytest.approx(rates)


# ---------------------------------------------------------------- the encoding: timm's RotaryEmbeddingMixed


@pytest.mark.parametrize("n_axes", [2, 1])
def test_timm_rotary_embedding_mixed_with_the_exported_table_rotates_as_rope_mixed(n_axes):
    """A peer check against timm's own code: the same table gives the same rotated q and k, and with the basis
    folded into q and k, the dense reference's attention logits."""
    torch.manual_seed(4)
    heads, dim, rows, cols, prefix = 3, 16, 3, 5, 2
    enc = rb.build("commuting", head_dim=dim, num_heads=heads, n_axes=n_axes, block_size=4, design="mixed")
    perturb(enc)
    form = rope_form(enc)
    pos = rb.grid_positions(rows, cols, n_axes, 0.7)
    table = mixed_table([form], GridPositions(n_axes, 0.7, (rows, cols)))
    timm_rope = RotaryEmbeddingMixed(heads * dim, depth=1, num_heads=heads, grid_indexing="xy")
    with torch.no_grad():
        timm_rope.freqs.copy_(table)
        emb = timm_rope.get_embed([rows, cols])[0]  # (H, N, 2 D): sin, cos
    q, k = torch.randn(2, 2, heads, prefix + rows * cols, dim, dtype=torch.float64)

    def timm_rotated(x):  # as timm's attention: prefix tokens as they are, the rest rotated
        return torch.cat((x[:, :, :prefix], apply_rot_embed_cat(x[:, :, prefix:], emb.double())), dim=2)

    with torch.no_grad():
        ours = table_rope(form, n_axes).double()(q, k, pos.double(), num_prefix_tokens=prefix)
    torch.testing.assert_close(timm_rotated(q), ours[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(timm_rotated(k), ours[1], atol=1e-5, rtol=0)
    basis = form.basis.unsqueeze(0)  # folded q, k: B^T x, which W_q and W_k give after the export
    logits = timm_rotated(q @ basis) @ timm_rotated(k @ basis).transpose(-1, -2)
    with torch.no_grad():
        dense = enc.double()(q, k, pos.double(), num_prefix_tokens=prefix)
    torch.testing.assert_close(logits, dense[0] @ dense[1].transpose(-1, -2), atol=1e-4, rtol=0)


# ---------------------------------------------------------------- the names registered with timm


@pytest.mark.parametrize("name", sorted(timm_vit.REGISTERED))
def test_registered_names(name):
    torch.manual_seed(5)
    model = timm.create_model(name, pretrained=False, img_size=32, num_classes=3, dynamic_img_size=True).eval()
    base, k = timm_vit.REGISTERED[name]
    assert type(model) is VisionTransformer and model.embed_dim == {"small": 384, "base": 768}[base.split("_")[1]]
    rope = model.blocks[0].attn.rope
    assert (rope.family, rope.block_size, rope.freqs.design, rope.relative) == ("commuting", k, "mixed", True)
    assert model.pos_embed is None and name in timm.list_models("*rope_commuting*")
    if name.startswith("vit_small"):  # export the small ones: timm alone runs them as RoPE-Mixed
        for attn in timm_vit.rotary_attentions(model):
            perturb(attn.rope, 0.1)
        x = torch.randn(1, 3, 48, 64)
        with torch.no_grad():
            assert relative_difference(model(x), export_eva(model).create()(x)) < 1e-5
    with pytest.raises(ValueError, match="has no pretrained weights; create it with pretrained=False"):
        timm.create_model(name, pretrained=True)

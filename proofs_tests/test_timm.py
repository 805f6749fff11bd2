"""The timm adapter: converted VisionTransformers rotate exactly as the dense reference says.

Every check runs on tiny timm ViTs built without downloads: 16x16 images of 4x4 patches (a 4x4
grid), 2 heads of width 24, with a class token and two register tokens as prefix tokens.
"""

from __future__ import annotations

import copy
import subprocess

import pytest
import torch

timm = pytest.importorskip("timm")

from conftest import PYTHON, REPO, cpu_env  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402
from timm.optim import create_optimizer_v2  # noqa: E402

import rope_blocks as rb  # noqa: E402
from rope_blocks import timm_vit  # noqa: E402

# (family, block_size, options, relative) with head_dim 24, which every block size here divides.
CONFIGS = {
    "axial": ("axial", 2, {}, True),
    "mixed": ("mixed", 2, {}, True),
    "givens3": ("givens", 3, {"plane": (0, 2)}, True),
    "weighted2": ("weighted", 2, {}, True),
    "weighted3": ("weighted", 3, {}, False),
    "commuting-axial-cayley4": ("commuting", 4, {"design": "axial", "basis": "cayley"}, True),
    "commuting-mixed-exp3": ("commuting", 3, {"design": "mixed", "basis": "matrix_exp"}, True),
    "commuting-mixed-stiefel6": ("commuting", 6, {"design": "mixed", "basis": "stiefel"}, True),
    "liere2": ("liere", 2, {}, True),
    "liere3": ("liere", 3, {"init_scale": 0.1}, False),
}
assert {c[0] for c in CONFIGS.values()} == set(rb.families()) - {"none"}


def vit(**kwargs) -> VisionTransformer:
    args = dict(img_size=16, patch_size=4, embed_dim=48, depth=2, num_heads=2, num_classes=5, reg_tokens=2)
    return VisionTransformer(**{**args, **kwargs}).eval()


def converted(name: str, n_axes: int = 2, seed: int = 0, **kwargs) -> VisionTransformer:
    family, k, options, _ = CONFIGS[name]
    torch.manual_seed(seed)
    return timm_vit.convert(vit(**kwargs), family, block_size=k, n_axes=n_axes, **options)


def grid_positions(rows: int, cols: int, n_axes: int) -> torch.Tensor:
    """Written out independently of the adapter: (row, col) or the raster index of each patch."""
    pos = torch.cartesian_prod(torch.arange(rows), torch.arange(cols)).float()
    return pos if n_axes == 2 else (pos[:, :1] * cols + pos[:, 1:])


def position_scale(attn, rows: int, cols: int) -> float:
    """The attention's fixed pos_scale, or LieRE's unit positions written out: [0, 1] along the longer side."""
    if attn.pos_scale is not None:
        return attn.pos_scale
    return 1.0 / max((rows * cols if attn.rope.n_axes == 1 else max(rows, cols)) - 1, 1)


def first_attention_io(model, images):
    """The input and output of blocks[0].attn during a model forward."""
    seen = {}
    attn = model.blocks[0].attn
    handles = [
        attn.register_forward_pre_hook(lambda m, args: seen.update(x=args[0])),
        attn.register_forward_hook(lambda m, args, out: seen.update(y=out)),
    ]
    with torch.no_grad():
        model(images)
    for h in handles:
        h.remove()
    return seen["x"], seen["y"]


def dense_reference(attn, x, rows, cols):
    """Logits and attention output with q, k rotated by the dense R(pos); prefix tokens unrotated."""
    b, n, _ = x.shape
    h, d, p = attn.num_heads, attn.head_dim, attn.num_prefix_tokens
    q, k, v = attn.qkv(x).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(q), attn.k_norm(k)
    rot = torch.eye(d).repeat(h, n, 1, 1)  # (H, N, D, D)
    rot[:, p:] = attn.rope.rotation(grid_positions(rows, cols, attn.rope.n_axes) * position_scale(attn, rows, cols))
    q, k = torch.einsum("hnij,bhnj->bhni", rot, q), torch.einsum("hnij,bhnj->bhni", rot, k)
    logits = q @ k.transpose(-1, -2) * attn.scale
    y = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, -1)
    return logits, attn.proj(y)


def adapter_logits(attn, x, patch_pos=None):
    q, k, _ = attn.rotated_qkv(x, patch_pos)
    return q @ k.transpose(-1, -2) * attn.scale


def check_against_dense(model, images, rows, cols):
    x, y = first_attention_io(model, images)
    attn = model.blocks[0].attn
    assert attn.grid == (rows, cols)
    with torch.no_grad():
        ref_logits, ref_y = dense_reference(attn, x, rows, cols)
        logits = adapter_logits(attn, x)
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y, ref_y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_forward_backward_and_dense_reference(name):
    model = converted(name)
    assert type(model) is VisionTransformer and model.pos_embed is None
    assert all(type(blk.attn) is timm_vit.RotaryAttention for blk in model.blocks)
    assert timm_vit.rotary_attentions(model) == [blk.attn for blk in model.blocks]
    assert timm_vit.is_converted(model) and model.num_prefix_tokens == 3
    images = torch.randn(2, 3, 16, 16)
    check_against_dense(model, images, 4, 4)

    model.train()
    model(images).square().mean().backward()
    for attn in timm_vit.rotary_attentions(model):
        assert attn.qkv.weight.grad.abs().sum() > 0
        for p in attn.rope.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["axial", "commuting-mixed-exp3", "liere3"])
def test_raster_positions_and_no_prefix_tokens(name):
    model = converted(name, n_axes=1, class_token=False, reg_tokens=0, global_pool="avg")
    assert model.blocks[0].attn.rope.n_axes == 1 and model.num_prefix_tokens == 0
    check_against_dense(model, torch.randn(2, 3, 16, 16), 4, 4)


def test_explicit_attention_path_matches_fused():
    model = converted("commuting-axial-cayley4")
    images = torch.randn(2, 3, 16, 16)
    keep = torch.rand(19, 19) > 0.3
    keep.fill_diagonal_(True)
    masks = ({}, {"attn_mask": keep}, {"attn_mask": torch.randn(19, 19)}, {"is_causal": True})
    fused = [model(images, **m) for m in masks]
    for attn in timm_vit.rotary_attentions(model):
        attn.fused_attn = False
    for m, out in zip(masks, fused):
        torch.testing.assert_close(model(images, **m), out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_shifting_every_patch_keeps_patch_logits_iff_relative(name):
    model = converted(name)
    x, _ = first_attention_io(model, torch.randn(2, 3, 16, 16))
    attn = model.blocks[0].attn
    pos = attn.patch_positions(4, 4)
    torch.testing.assert_close(pos, grid_positions(4, 4, 2) * position_scale(attn, 4, 4))
    with torch.no_grad():
        before = adapter_logits(attn, x)[..., 3:, 3:]  # patch tokens only (3 prefix tokens)
        after = adapter_logits(attn, x, pos + torch.tensor([3.0, -2.0]))[..., 3:, 3:]
    change = (after - before).abs().max().item()
    if CONFIGS[name][3]:
        assert change < 1e-4
    else:
        assert change > 1e-3


@pytest.mark.parametrize("name", ["commuting-mixed-exp3", "liere3"])
def test_two_steps_with_timm_optimizer_factory(name):
    model = converted(name).train()
    opt = create_optimizer_v2(model, "adamw", lr=3e-3, weight_decay=0.05)
    rope_params = {id(p) for attn in timm_vit.rotary_attentions(model) for p in attn.rope.parameters()}
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert rope_params and not rope_params & decayed
    assert id(model.blocks[0].attn.qkv.weight) in decayed
    names = model.no_weight_decay()
    assert "cls_token" in names and set(type(model).no_weight_decay(model)) <= names  # timm's own names kept
    assert {f"blocks.0.attn.rope.{n}" for n in model.blocks[0].attn.rope.no_weight_decay()} <= names

    torch.manual_seed(1)
    images, labels = torch.randn(8, 3, 16, 16), torch.randint(0, 5, (8,))
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = []
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, start[n])}
    assert {n for n in moved if ".rope." in n} == {n for n in start if ".rope." in n}


def test_stiefel_bases_are_reported():
    model = converted("commuting-mixed-stiefel6")
    stiefel = rb.stiefel_parameters(model)
    assert len(stiefel) == 2
    names = dict(model.named_parameters())
    assert {id(names[n]) for n in model.no_weight_decay() if n in names} >= {id(p) for p in stiefel}


def test_dynamic_image_size_follows_the_grid():
    model = converted("commuting-axial-cayley4", dynamic_img_size=True)
    for (height, width), grid in (((16, 16), (4, 4)), ((12, 20), (3, 5)), ((8, 16), (2, 4))):
        images = torch.randn(2, 3, height, width)
        assert model(images).shape == (2, 5)
        check_against_dense(model, images, *grid)


def test_torch_compile_follows_the_grid():
    model = converted("mixed", dynamic_img_size=True)
    compiled = torch.compile(model, backend="eager")
    for size, grid in (((16, 16), (4, 4)), ((12, 8), (3, 2))):
        images = torch.randn(1, 3, *size)
        torch.testing.assert_close(compiled(images), model(images))
        assert model.blocks[1].attn.grid == grid


def test_keep_pos_embed_and_deepcopy():
    torch.manual_seed(0)
    model = timm_vit.convert(vit(dynamic_img_size=True), "axial", keep_pos_embed=True)
    assert model.pos_embed is not None and "pos_embed" in model.state_dict()
    check_against_dense(model, torch.randn(1, 3, 16, 16), 4, 4)
    # timm's EMA deep-copies the model: the copy must record its own grid.
    twin = copy.deepcopy(model)
    twin(torch.randn(1, 3, 8, 12))
    assert twin.blocks[0].attn.grid == (2, 3) and model.blocks[0].attn.grid == (4, 4)
    assert twin.no_weight_decay() == model.no_weight_decay()


def test_state_dict_round_trip():
    model = converted("commuting-axial-cayley4", seed=0)
    fresh = converted("commuting-axial-cayley4", seed=1)
    assert "pos_embed" not in model.state_dict()
    images = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(model(images), fresh(images))
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh(images), model(images), atol=0, rtol=0)


@pytest.mark.parametrize(
    "model, kwargs, match",
    [
        (torch.nn.Linear(4, 4), {"family": "axial"}, "expects a timm VisionTransformer"),
        (None, {"family": "rope"}, "unknown family"),
        (None, {"family": "commuting", "block_size": 25}, "larger than head_dim=24"),
        (None, {"family": "commuting", "basis": "orthogonal"}, "basis='orthogonal' is not one of"),
        (None, {"family": "commuting", "frequency": "learned"}, "option 'frequency' is not valid"),
        (None, {"family": "axial", "n_axes": 3}, "n_axes 1 .raster index. or 2"),
        (None, {"family": "axial", "pos_scale": 0}, "pos_scale must be a positive"),
        (vit(patch_drop_rate=0.5), {"family": "axial"}, "patch_drop_rate=0"),
    ],
)
def test_bad_inputs_raise_and_leave_the_model_alone(model, kwargs, match):
    model = vit() if model is None else model
    with pytest.raises(ValueError, match=match):
        timm_vit.convert(model, **kwargs)
    if isinstance(model, VisionTransformer):
        assert not timm_vit.is_converted(model) and model.pos_embed is not None


def test_double_conversion_and_missing_grid():
    model = converted("axial")
    with pytest.raises(ValueError, match="already converted"):
        timm_vit.convert(model, "axial")
    fresh = converted("axial")
    with pytest.raises(ValueError, match="no patch grid yet"):
        fresh.blocks[0](torch.randn(1, 19, 48))


def test_timm_stays_optional():
    script = (
        "import sys\n"
        "import rope_blocks\n"
        "assert 'timm' not in sys.modules, 'import rope_blocks imported timm'\n"
        "sys.modules['timm'] = None  # as if timm were not installed\n"
        "try:\n"
        "    import rope_blocks.timm_vit\n"
        "except ImportError as e:\n"
        "    assert \"pip install 'rope-blocks[timm]'\" in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError without timm')\n"
    )
    subprocess.run([PYTHON, "-c", script], check=True, cwd=REPO, env=cpu_env(), timeout=120)

"""The speed paths that `rope-blocks bench step` measures: the opt-in ViT options (fast dropout, attention
written out) do what they claim, and the default paths that were made faster compute the same bits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rope_blocks as rb
from training.optim import build_optimizers
from training.vit import FastDropout, ViT, ViTConfig, fast_dropout, math_attention

pytestmark = pytest.mark.usefixtures("one_thread")


def small(**kw) -> ViTConfig:
    base = dict(image_size=8, in_chans=1, num_classes=5, patch_size=2, dim=16, depth=2, heads=2, dim_head=8)
    return ViTConfig(**{**base, "mlp_dim": 32, "pool": "mean", **kw})


def test_fast_dropout_drops_at_the_rate_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(1_000_000)
    y = fast_dropout(x, 0.1)
    cut = round(0.1 * 65536)
    dropped = (y == 0).double().mean().item()
    assert abs(dropped - cut / 65536) < 5 * (0.1 * 0.9 / x.numel()) ** 0.5  # within 5 sigma of 0.100006
    assert torch.equal(y[y != 0], torch.full_like(y[y != 0], 65536 / (65536 - cut)))  # the inverse keep rate
    assert abs(y.mean().item() - 1.0) < 2e-3


def test_fast_dropout_is_reproducible_and_its_gradient_is_the_mask():
    x = torch.randn(3, 50, 7, requires_grad=True)
    torch.manual_seed(1)
    y = fast_dropout(x, 0.25)
    torch.manual_seed(1)
    assert torch.equal(fast_dropout(x, 0.25), y)  # torch's generator: manual_seed and checkpoints cover it
    y.backward(torch.ones_like(y))
    kept = torch.tensor(65536 / (65536 - round(0.25 * 65536)))
    assert torch.equal(x.grad, torch.where(y != 0, kept, 0.0))  # the same scaled mask
    assert fast_dropout(x, 0.0) is x and torch.equal(fast_dropout(x, 1.0), torch.zeros_like(x))
    low = fast_dropout(x.detach().bfloat16().transpose(0, 2), 0.5)  # other dtypes and memory orders
    assert low.dtype == torch.bfloat16 and low.shape == (7, 50, 3)
    assert set(torch.unique(low / x.detach().bfloat16().transpose(0, 2)).tolist()) <= {0.0, 2.0}


def test_fast_dropout_module_is_off_in_eval_and_opt_in():
    drop = FastDropout(0.5).eval()
    x = torch.randn(4, 4)
    assert drop(x) is x and "p=0.5" in repr(drop)
    default = ViT(small(dropout=0.1))
    assert not any(isinstance(m, FastDropout) for m in default.modules())  # the default is torch's nn.Dropout
    fast = ViT(small(dropout=0.1, dropout_impl="fast"))
    assert sum(isinstance(m, FastDropout) for m in fast.modules()) == 1 + 3 * 2  # embedding, 3 per block


def test_written_out_attention_is_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 9, 8).unbind(0)
    expected = F.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(math_attention(q, k, v, 0.0, F.dropout), expected, atol=1e-6)
    torch.manual_seed(0)
    model = ViT(small(family="axial"))
    x = torch.randn(2, 1, 8, 8)
    for attention in ("math", "auto"):
        written = ViT(small(family="axial", attention=attention))
        written.load_state_dict(model.state_dict())
        assert torch.allclose(written(x), model(x), atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert written(x).dtype == torch.bfloat16


def test_config_checks_the_speed_options():
    assert small(dropout=0.2).attn_p == 0.2 and small(dropout=0.2, attn_dropout=0.0).attn_p == 0.0
    for kw, message in (
        ({"dropout_impl": "numpy"}, "dropout_impl must be one of 'torch', 'fast'"),
        ({"attention": "flash"}, "attention must be one of 'sdpa', 'math', 'auto'"),
        ({"attn_dropout": 1.5}, "attn_dropout must be a probability"),
    ):
        with pytest.raises(ValueError, match=message):
            small(**kw)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("amp", [False, True])
def test_fast_recipe_trains(dropout, amp):
    torch.manual_seed(0)
    cfg = small(family="commuting", block_size=4, enc_options={"design": "mixed", "basis": "stiefel"})
    model = ViT(ViTConfig(**{**cfg.__dict__, "dropout": dropout, "dropout_impl": "fast", "attention": "auto"}))
    opts = build_optimizers(model)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 5, (8,))
    for _ in range(2):
        for opt in opts:
            opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        for opt in opts:
            opt.step()


# The default paths made faster compute the same bits as before (`rope-blocks zoo` reruns of the committed
# digits and probe runs match epoch by epoch); these check the two rewrites directly.


@pytest.mark.parametrize(
    "family, k, options",
    [("axial", 2, {}), ("givens", 3, {}), ("commuting", 4, {"basis": "fixed"}), ("commuting", 3, {"basis": "cayley"})],
)
def test_fixed_frequency_planes_turn_to_the_same_bits(family, k, options):
    # With fixed frequencies the planes turn by _rotate_planes_fixed; with the angles requiring a gradient by
    # the original product-and-stack. Both must give the same bits, forward and into q and k.
    torch.manual_seed(0)
    enc = rb.build(family, head_dim=12, num_heads=2, n_axes=2, block_size=k, **options)
    qkv = torch.randn(3, 10, 3, 2, 12)
    pos = rb.grid_positions(3, 3)
    cos, sin = enc._plane_context(torch.cat((pos.new_zeros(1, 2), pos)))
    results = []
    for learned in (False, True):
        x = qkv.clone().requires_grad_()
        q = x.unbind(2)[0].transpose(1, 2)  # a strided view, as the ViT's q
        y = q[..., : enc.block_dims].unflatten(-1, (enc.num_blocks, k))
        c, s = (t.detach().requires_grad_(learned) for t in (cos, sin))
        out = enc._rotate_planes(y, (c, s))
        out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(1)))
        results.append((out.detach(), x.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_qkv_views_and_their_gradients_are_the_permutes():
    x = torch.randn(2, 5, 3 * 2 * 4, requires_grad=True)
    g = torch.randn(3, 2, 2, 5, 4)
    old = x.view(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    new = [t.transpose(1, 2) for t in x.view(2, 5, 3, 2, 4).unbind(2)]
    assert all(torch.equal(a, b) and a.stride() == b.stride() for a, b in zip(old, new))
    (grad_old,) = torch.autograd.grad([t for t in old], x, list(g))
    (grad_new,) = torch.autograd.grad(new, x, list(g))
    assert torch.equal(grad_old, grad_new)

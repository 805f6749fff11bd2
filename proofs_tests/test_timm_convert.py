"""No silent failures in rope_blocks.timm_vit.convert: each test failed before its fix.

* ``none`` dropped timm's absolute embedding, so the converted model ignored position;
* ``pos_drop_rate`` was ignored once ``pos_embed`` was gone (timm skips its position dropout then);
* LieRE's position scale was frozen at 1 (grid coordinates) whatever the grid, against its [0, 1] convention;
* a converted checkpoint loads into an identically converted model only (documented, checked here).
"""

from __future__ import annotations

import pytest
import torch

timm = pytest.importorskip("timm")

from timm.models.vision_transformer import VisionTransformer  # noqa: E402

from rope_blocks import timm_vit  # noqa: E402


def vit(**kwargs) -> VisionTransformer:
    torch.manual_seed(0)
    args = dict(img_size=16, patch_size=4, embed_dim=48, depth=2, num_heads=2, num_classes=5)
    model = VisionTransformer(**{**args, **kwargs}).eval()
    if model.pos_embed is not None:
        with torch.no_grad():
            model.pos_embed.normal_(0, 1.0)  # a trained embedding, not its tiny initial one
    return model


def shuffled_patches(images: torch.Tensor, patch: int = 4) -> torch.Tensor:
    """The same patches in another order: a model blind to position gives the same output."""
    b, c, h, w = images.shape
    tiles = images.unfold(2, patch, patch).unfold(3, patch, patch).reshape(b, c, -1, patch, patch)
    tiles = tiles[:, :, torch.randperm(tiles.shape[2], generator=torch.Generator().manual_seed(1))]
    rows = tiles.reshape(b, c, h // patch, w // patch, patch, patch).permute(0, 1, 2, 4, 3, 5)
    return rows.reshape(b, c, h, w)


def shuffle_effect(model, images) -> float:
    """How much shuffling the patches changes the output, relative to its scale (4e-7 for a model blind to position)."""
    with torch.no_grad():
        out = model(images)
        return ((out - model(shuffled_patches(images))).abs().max() / out.abs().max()).item()


def test_none_keeps_the_absolute_embedding_so_position_still_matters():
    images = torch.randn(2, 3, 16, 16)
    model = timm_vit.convert(vit(), "none")
    assert model.pos_embed is not None and shuffle_effect(model, images) > 1e-4
    with pytest.raises(ValueError, match="family 'none' rotates nothing, so without timm's absolute position"):
        timm_vit.convert(vit(), "none", keep_pos_embed=False)
    with pytest.raises(ValueError, match="family 'none' rotates nothing"):
        timm_vit.convert(vit(pos_embed="none"), "none")
    with pytest.raises(ValueError, match="keep_pos_embed=True, but the model has no absolute position embedding"):
        timm_vit.convert(vit(pos_embed="none"), "axial", keep_pos_embed=True)
    # A rotary family drops it and sees position through the rotation instead.
    rotary = timm_vit.convert(vit(), "axial")
    assert rotary.pos_embed is None and shuffle_effect(rotary, images) > 1e-4


@pytest.mark.parametrize("keep", [False, True])
def test_position_dropout_still_drops(keep):
    model = timm_vit.convert(vit(pos_drop_rate=0.5), "axial", keep_pos_embed=keep)
    calls = []
    model.pos_drop.register_forward_hook(lambda m, args, out: calls.append(m.p))
    images = torch.randn(2, 3, 16, 16)
    model.train()
    first, second = model(images), model(images)
    assert calls == [0.5, 0.5] and not torch.allclose(first, second)
    model.eval()
    torch.testing.assert_close(model(images), model(images), atol=0, rtol=0)
    assert timm_vit.convert(vit(), "axial").patch_drop.__class__ is torch.nn.Identity  # rate 0: nothing moved


def test_liere_positions_follow_the_grid_into_zero_one():
    model = timm_vit.convert(vit(dynamic_img_size=True), "liere", block_size=3)
    attn = model.blocks[0].attn
    assert attn.pos_scale is None and "unit" in repr(attn)
    for (height, width), (rows, cols) in (((16, 16), (4, 4)), ((12, 20), (3, 5)), ((32, 24), (8, 6))):
        model(torch.randn(1, 3, height, width))
        pos = attn.patch_positions(*attn.grid)
        assert attn.grid == (rows, cols) and pos.min() == 0 and pos.max() == 1
        torch.testing.assert_close(pos[-1], torch.tensor([rows - 1.0, cols - 1.0]) / (max(rows, cols) - 1))
    raster = timm_vit.convert(vit(dynamic_img_size=True), "liere", block_size=3, n_axes=1).blocks[0].attn
    assert raster.patch_positions(3, 5).max() == 1 and raster.patch_positions(3, 5)[1].item() == pytest.approx(1 / 14)
    # Asked for, a fixed scale stays fixed (the project ViT's convention); grid families keep grid coordinates.
    fixed = timm_vit.convert(vit(dynamic_img_size=True), "liere", block_size=3, pos_scale=1 / 3).blocks[0].attn
    assert fixed.patch_positions(8, 6).max().item() == pytest.approx(7 / 3)
    assert timm_vit.convert(vit(), "commuting", block_size=4).blocks[0].attn.patch_positions(4, 4).max() == 3


def test_a_converted_checkpoint_loads_into_an_identically_converted_model_only():
    state = timm_vit.convert(vit(), "commuting", block_size=4).state_dict()
    assert "pos_embed" not in state and any(".attn.rope." in name for name in state)
    twin = timm_vit.convert(vit(), "commuting", block_size=4)
    twin.load_state_dict(state)  # strict: the same keys
    with pytest.raises(RuntimeError, match=r"(?s)Missing key.*pos_embed.*Unexpected key.*\.attn\.rope\."):
        vit().load_state_dict(state)
    assert "loads only into a model built the same way" in " ".join(timm_vit.__doc__.split())

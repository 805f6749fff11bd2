"""The model registry (training/models.py): the seed's rows, the new families, the sizes, and a training
step of every registered model."""

from __future__ import annotations

import pytest
import torch

from training import data, models
from training.config import TrainConfig
from training.optim import build_optimizers

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_registry_holds_the_seed_rows_and_the_new_families():
    seed = [
        "vit_no_rope_cifar10",
        "vit_rope_1D_axial_2x2_cifar10",
        "vit_rope_2D_axial_2x2_cifar10",
        "vit_rope_2D_axial_3x3_0_cifar10",
        "vit_rope_2D_axial_3x3_1_cifar10",
        "vit_rope_2D_axial_3x3_2_cifar10",
        "vit_rope_2D_axial_4x4_0_cifar10",
        "vit_rope_2D_axial_5x5_0_cifar10",
        "vit_rope_2D_axial_6x6_0_cifar10",
        "vit_weighted_rope_2D_axial_3x3_cifar10",
        "vit_weighted_rope_2D_axial_4x4_cifar10",
    ]
    assert set(seed) <= set(models.REGISTRY)
    # The seed's widths (REFERENCES.md), on a 32x32 grid this time.
    widths = {
        "vit_no_rope_cifar10": 128,
        "vit_rope_2D_axial_3x3_1_cifar10": 144,
        "vit_rope_2D_axial_5x5_0_cifar10": 160,
        "vit_weighted_rope_2D_axial_4x4_cifar10": 128,
    }
    for name, dim in widths.items():
        cfg = models.model_config(name, image_size=32, in_chans=3, num_classes=10)
        assert (cfg.dim, cfg.mlp_dim, cfg.depth, cfg.heads, cfg.patch_size, cfg.image_size) == (
            dim,
            2 * dim,
            4,
            4,
            1,
            32,
        )
    planes = {
        j: models.model_config(
            f"vit_rope_2D_axial_3x3_{j}_cifar10", image_size=32, in_chans=3, num_classes=10
        ).enc_options["plane"]
        for j in range(3)
    }
    assert planes == {0: (0, 1), 1: (0, 2), 2: (1, 2)}
    families = {models.REGISTRY[n][0].family for n in models.model_names("digits")}
    assert families == {"none", "axial", "givens", "weighted", "mixed", "commuting", "liere"}
    for design in ("axial", "mixed"):
        for k in (2, 3, 4, 6, 8):
            assert f"vit_commuting_{design}_rope_2D_{k}x{k}_cifar10" in models.REGISTRY
    liere = models.model_config("vit_liere_rope_2D_8x8_digits", image_size=8, in_chans=1, num_classes=10)
    assert liere.pos_scale == pytest.approx(1 / 7)  # LieRE: the training grid spans [0, 1]
    # 2x2 patches and mean pooling (the digits_canvas size, dropped with its data set, was the first).
    quadrant = models.model_config("vit_rope_2D_axial_2x2_probe_quadrant", image_size=16, in_chans=1, num_classes=4)
    assert (quadrant.patch_size, quadrant.grid, quadrant.pool, quadrant.dim) == (2, 8, "mean", 48)
    # The content-only probe sizes on 8x8 grids: the diagonal task at depth 1 and head width 48, extrapolation at 2.
    blank = (-1.0, -1.0)
    for size, depth, dim in (("probe_diagonal_content", 1, 96), ("probe_extrapolate_content", 2, 48)):
        cfg = models.model_config(
            f"vit_rope_2D_axial_2x2_{size}", image_size=8, in_chans=2, num_classes=2, blank_value=blank
        )
        assert (cfg.depth, cfg.dim, cfg.patch_size, cfg.pool, cfg.blank_value) == (depth, dim, 1, "mean", blank), size


def test_matched_suite_differs_only_by_encoding_parameters():
    names = models.model_names("matched_digits")
    assert len(names) >= 20
    counts = set()
    for name in names:
        m = models.build_model(name, image_size=8, in_chans=1, num_classes=10)
        assert (m.cfg.dim, m.cfg.depth, m.cfg.mlp_dim) == (48, 2, 96)
        n_enc = sum(p.numel() for p in m.encodings.parameters())
        n_abs = m.pos_embed.numel() if m.pos_embed is not None else 0
        counts.add(sum(p.numel() for p in m.parameters()) - n_enc - n_abs)
    assert len(counts) == 1


BLANK = (-0.5, -0.5, -0.5)  # what the content-only sizes need: the normalised value of a blank pixel


def test_a_content_only_size_needs_the_blank_value():
    with pytest.raises(ValueError, match="content tokens only and needs the normalised value of a blank pixel"):
        models.model_config("vit_mixed_rope_2D_2x2_probe_quadrant_content", image_size=16, in_chans=1, num_classes=4)
    cfg = models.model_config("vit_mixed_rope_2D_2x2_probe_quadrant", image_size=16, in_chans=1, num_classes=4)
    assert cfg.blank_value is None  # the same task with the background in attention


def test_every_registered_model_takes_a_training_step(cifar_root):
    splits = data.load("cifar10", cifar_root)
    images, labels = splits.train[:4]
    x = splits.prepare(images, 8)
    cfg = TrainConfig()
    for name in models.REGISTRY:
        torch.manual_seed(0)
        model = models.build_model(name, image_size=8, in_chans=3, num_classes=10, dropout=0.0, blank_value=BLANK)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        optimizers = build_optimizers(model, cfg.optimizer, cfg.lr, cfg.weight_decay)
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        for opt in optimizers:
            opt.step()
        assert torch.isfinite(loss), name
        moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
        assert "head.weight" in moved and "blocks.0.attn.qkv.weight" in moved, name

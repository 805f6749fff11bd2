"""Content-only tokens (ViT.forward(keep=...)): with the blank tokens out of attention and pooling, a
relative design's logits are invariant when the content moves by whole patches (theory T1); with
them in, or with an absolute embedding, they are not."""

from __future__ import annotations

import json

import pytest
import torch

from training import models, probes, suites, zoo
from training.export_timm import vit_to_eva

pytestmark = pytest.mark.usefixtures("one_thread")

RELATIVE = ["rope_2D_axial_2x2", "mixed_rope_2D_2x2", "commuting_mixed_rope_2D_4x4", "rope_2D_axial_3x3_0"]


def model(variant: str, attention: str = "sdpa"):
    cfg = models.model_config(f"vit_{variant}_probe_quadrant", image_size=16, in_chans=1, num_classes=4)
    cfg.attention = attention
    torch.manual_seed(0)
    m = models.ViT(cfg).double().eval()
    with torch.no_grad():  # weights far from the initialisation, where attention is nearly uniform
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return m


def placed(row: int, col: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 16x16 image with two 2x2 glyphs at pixel (row, col) and 4 pixels right, and its content tokens."""
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    x[..., row : row + 2, col : col + 2] = 1.0
    x[..., row, col + 4] = x[..., row + 1, col + 5] = 1.0
    keep = torch.nn.functional.max_pool2d(x, 2).flatten(1) > 0  # tokens of 2x2 patches with any ink
    return x, keep


@pytest.mark.parametrize("attention", ["sdpa", "math"])
@pytest.mark.parametrize("variant", RELATIVE)
def test_a_relative_design_on_content_only_tokens_is_invariant_to_whole_patch_moves(variant, attention):
    m = model(variant, attention)
    with torch.no_grad():
        a, b = (m(x, keep=keep) for x, keep in (placed(0, 0), placed(8, 6)))
        assert (a - b).abs().max() <= 1e-10 * a.abs().max()
        moved_with_background = (m(placed(0, 0)[0]) - m(placed(8, 6)[0])).abs().max()
    assert moved_with_background > 1e-3 * a.abs().max()  # the canvas boundary moved relative to the content


def test_an_absolute_embedding_is_not_invariant_even_on_content_only_tokens():
    m = model("no_rope")
    with torch.no_grad():
        a, b = (m(x, keep=keep) for x, keep in (placed(0, 0), placed(8, 6)))
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_keeping_every_token_is_the_plain_forward_and_bad_masks_are_refused():
    m = model("mixed_rope_2D_2x2")
    x, _ = placed(0, 0)
    with torch.no_grad():
        torch.testing.assert_close(m(x, keep=torch.ones(1, 64, dtype=torch.bool)), m(x))
    for keep in (torch.ones(1, 63, dtype=torch.bool), torch.ones(1, 64), torch.zeros(1, 64, dtype=torch.bool)):
        with pytest.raises(ValueError, match=r"keep must be a \(batch, 64\) bool tensor"):
            m(x, keep=keep)


def test_a_blank_value_makes_the_model_keep_its_content_tokens_itself():
    m = model("mixed_rope_2D_2x2")
    x, keep = placed(8, 6)
    blank = -0.5  # the normalised value of a blank pixel
    x = torch.where(x > 0, x, torch.full_like(x, blank))
    m.cfg.blank_value = (blank,)
    assert torch.equal(m.content_tokens(x), keep)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m(x, keep=keep), rtol=0, atol=0)
        empty = torch.full_like(x, blank)
        assert m.content_tokens(empty).all()  # nothing to keep: every token takes part
        torch.testing.assert_close(m(empty), m(empty, keep=torch.ones(1, 64, dtype=torch.bool)))


def test_a_content_only_model_is_not_exported_to_timm():
    m = model("mixed_rope_2D_2x2")
    m.cfg.blank_value = (0.0,)
    with pytest.raises(ValueError, match="content tokens only .* --to rope-blocks instead"):
        vit_to_eva(m)


def test_the_zoo_scores_a_content_only_runs_paired_tests_and_export(tmp_path):
    names = (
        "vit_mixed_rope_2D_2x2_probe_quadrant_content",
        "vit_no_rope_probe_quadrant_content",
        "vit_commuting_mixed_rope_2D_4x4_probe_quadrant_content",  # a learned k x k basis
    )
    group = suites.Group("probe_quadrant", names, (0,), 1, max_images=64)
    z = zoo.Zoo("probes", (group,), tmp_path, suites.Recipe(32, 3e-3), jobs=1)
    assert zoo.run_zoo(z, ["test"]) == 0
    rows = {r["model"]: r for r in json.loads((tmp_path / "results/probes/summary.json").read_text())["runs"]}
    relative, absolute, learned = (rows[n] for n in names)
    for r in (relative, learned):  # theory T1 (in float64: rounding only) and T5 (fp32), on trained weights
        assert r["pair_error"] < 1e-10 and r["export_error"] < 1e-5
    assert learned["encoding_parameters"] > 0 and learned["export_error"] > 0  # the basis was learned, and folded
    assert absolute["pair_error"] > 1e-3 and absolute["export_error"] is None
    assert set(relative["extra_acc"]) == set(probes.PAIRED["probe_quadrant"])
    # Scores made another way are made again, from the best checkpoint (and refused without it).
    path = tmp_path / f"results/probes/probe_quadrant/{relative['run_id']}.json"
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "pair_error": 0.5, "scored_with": {**result["scored_with"], "amp": True}}))
    assert zoo.run_zoo(z, ["test"]) == 0
    assert json.loads(path.read_text())["pair_error"] == relative["pair_error"]
    path.write_text(json.dumps({**result, "scored_with": None}))
    (tmp_path / f"runs/probes/probe_quadrant/{relative['run_id']}/best.pt").unlink()
    assert zoo.run_zoo(z, ["test"]) == 1  # the run is reported as failed, with the fix, and nothing is lost
    assert json.loads(path.read_text())["scored_with"] is None

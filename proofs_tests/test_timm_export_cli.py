"""`rope-blocks export --to timm` and what timm's RoPE-Mixed ViT cannot hold (exactness: test_timm_eva.py).

The committed digits checkpoint exports to a state dict whose test accuracy, computed by timm alone in a
process where ``import rope_blocks`` fails, is the run's committed accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest
import torch

timm = pytest.importorskip("timm")

from conftest import PYTHON, REPO, cpu_env  # noqa: E402
from test_timm_eva import project_vit, run_timm_alone, timm_vit_converted  # noqa: E402
from timm.models.vision_transformer import VisionTransformer  # noqa: E402

from commands import export as cli  # noqa: E402
from rope_blocks.timm_eva import export_eva  # noqa: E402
from training import checkpoint, data  # noqa: E402
from training.export_timm import vit_to_eva  # noqa: E402
from training.vit import ViT, ViTConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
COMMITTED_RUN = "vit_rope_2D_axial_3x3_0_matched_digits_seed3"


def test_the_committed_digits_run_keeps_its_accuracy_with_timm_alone(tmp_path, capsys):
    recorded = json.loads((REPO / f"results/digits/{COMMITTED_RUN}.json").read_text())["best"]["test_acc"]
    out = tmp_path / "digits.pth"
    assert cli.main([str(REPO / f"results/export/{COMMITTED_RUN}.pt"), "--to", "timm", "--out", str(out)]) == 0
    assert f"before {recorded:.4f}, after {recorded:.4f}" in capsys.readouterr().out
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["test_acc_before"] == meta["test_acc_after"] == recorded and meta["family"] == "givens"
    assert meta["model_name"] == "vit_small_patch16_rope_mixed_224" and meta["timm_version"] == timm.__version__
    digits = data.load("digits")  # the data pipeline is not timm's: the prepared test split goes to the process
    torch.save({"images": [digits.prepare(digits.test.images)], "labels": digits.test.labels}, tmp_path / "test.pt")
    job = {
        "name": "digits",
        "meta": str(out.with_suffix(".json")),
        "state": str(out),
        "inputs": str(tmp_path / "test.pt"),
    }
    assert run_timm_alone([job], tmp_path)["digits"]["accuracy"] == recorded


def save_run(model: ViT, path):
    checkpoint.save({"model_config": dataclasses.asdict(model.cfg), "model": model.state_dict()}, path)
    return path


def test_cli_errors_and_overwrite(tmp_path, capsys):
    def error(*argv) -> str:
        code = cli.main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("rope-blocks export: error: ") and "Traceback" not in err, err
        return err

    weighted = save_run(project_vit("weighted", 3), tmp_path / "weighted.pt")
    assert "not relative" in error(weighted, "--to", "timm", "--out", tmp_path / "a.pth")
    narrow = save_run(project_vit("axial", dim_head=10), tmp_path / "narrow.pt")
    assert "divisible by 4; this model's is 10" in error(narrow, "--to", "timm", "--out", tmp_path / "a.pth")
    torch.save(timm_vit_converted("axial").state_dict(), tmp_path / "timm_state.pth")  # another model's checkpoint
    assert "not a rope-blocks checkpoint" in error(
        tmp_path / "timm_state.pth", "--to", "timm", "--out", tmp_path / "a.pth"
    )
    assert not (tmp_path / "a.pth").exists() and not (tmp_path / "a.json").exists()

    source = save_run(project_vit("commuting", 4, design="mixed"), tmp_path / "run.pt")
    argv = [source, "--to", "timm", "--dataset", "synthetic", "--out", tmp_path / "taken.pth"]
    (tmp_path / "taken.json").write_text("keep me")
    assert "already exist" in error(*argv)
    assert (tmp_path / "taken.json").read_text() == "keep me" and not (tmp_path / "taken.pth").exists()
    assert "pass the --dataset the run was trained on" in error(*argv, "--overwrite")  # 1 channel, not 3
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(source), "--to", "onnx", "--out", str(tmp_path / "a.pth")])
    assert exit_.value.code == 2 and "invalid choice: 'onnx'" in capsys.readouterr().err


def test_without_timm_the_timm_target_says_how_to_install_it(tmp_path):
    source = save_run(project_vit("axial"), tmp_path / "run.pt")
    script = (
        "import sys\n"
        "sys.modules['timm'] = None  # as if timm were not installed\n"
        "from commands import export\n"
        f"code = export.main([{str(source)!r}, '--to', 'timm', '--out', {str(tmp_path / 'a.pth')!r}])\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([PYTHON, "-c", script], cwd=REPO, env=cpu_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--to timm needs timm" in done.stderr and "pip install" in done.stderr, done.stderr


def _vit(**cfg) -> ViT:
    base = dict(image_size=8, in_chans=1, num_classes=5, patch_size=2, depth=1, family="axial")
    return ViT(ViTConfig(**{**base, **cfg}))


REFUSED = [
    (lambda: project_vit("none"), "family is 'none': it has no rotary encoding"),
    (lambda: project_vit("liere", 4), r"'liere' family with block_size=4 .* not relative"),
    (lambda: _vit(dim=48, heads=2, dim_head=12), r"embed_dim 48 and 2 heads of width 12; train with dim = .* \(24\)"),
    (lambda: _vit(dim=28, heads=1, dim_head=28, mlp_dim=61), "does not give back this model's MLP width 61"),
    (lambda: timm_vit_converted("weighted", 3), r"not relative: its blocks are not even orthogonal"),
    (lambda: timm_vit_converted("axial", vit_args={"qk_norm": True}), "does not commute with the basis"),
    (lambda: timm_vit_converted("axial", vit_args={"norm_layer": "rmsnorm"}), "RmsNorm; the export maps LayerNorm"),
    (lambda: timm_vit_converted("axial", vit_args={"global_pool": "map"}), "global_pool='map'"),
    (lambda: timm_vit_converted("axial", vit_args={"act_layer": "gelu_tanh"}), "exact GELU"),
    (lambda: timm_vit_converted("axial", vit_args={"proj_bias": False}), "proj_bias=False"),
    (lambda: timm_vit_converted("axial", vit_args={"scale_mlp_norm": True}), "scale_mlp_norm"),
    (lambda: timm_vit_converted("axial", vit_args={"embed_dim": 36}), "divisible by 4; this model's is 18"),
    (lambda: VisionTransformer(img_size=16, patch_size=4, embed_dim=48, depth=1, num_heads=2), "convert it first"),
]


@pytest.mark.parametrize("make, match", REFUSED)
def test_what_timm_rope_mixed_cannot_hold_is_refused_with_the_reason(make, match):
    model = make()
    with pytest.raises(ValueError, match=match):
        vit_to_eva(model) if isinstance(model, ViT) else export_eva(model)


def test_save_never_overwrites_without_being_asked(tmp_path):
    export = export_eva(timm_vit_converted("axial"))
    (tmp_path / "m.pth").write_text("keep me")
    with pytest.raises(ValueError, match="already exist.*overwrite=True"):
        export.save(tmp_path / "m.pth")
    assert (tmp_path / "m.pth").read_text() == "keep me" and not (tmp_path / "m.json").exists()
    with pytest.raises(ValueError, match="would also be the name of the JSON"):
        export.save(tmp_path / "m.json")
    meta = json.loads(export.save(tmp_path / "m.pth", overwrite=True).read_text())
    assert meta["state_dict_file"] == "m.pth" and meta["kwargs"]["rope_type"] == "mixed"

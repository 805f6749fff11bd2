"""The trainer (training/trainer.py, training/optim.py) in process on the CPU: what a run writes, what the
optimizers decay, and how a NaN loss stops a run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import train, train_error

from training import checkpoint, models, trainer, zoo
from training.config import TrainConfig
from training.optim import build_optimizers
from training.vit import ViT

# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_writes_metrics_result_and_checkpoints(tmp_path, cifar_root):
    assert train(tmp_path, cifar_root, "--seed", "3") == 0
    result = json.loads((tmp_path / "results/cifar10/r.json").read_text())
    for key in ("config", "commit", "device", "seed", "parameters", "relative_error", "history", "best", "command"):
        assert key in result, key
    assert result["finished"] and result["seed"] == 3 and len(result["history"]) == 2
    assert result["relative_error"] and max(result["relative_error"]) < 1e-4  # axial RoPE is relative
    epoch = result["history"][0]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "images_per_sec"):
        assert isinstance(epoch[key], float), key
    # The best epoch is chosen on validation accuracy, never on the test set.
    best_val = max(h["val_acc"] for h in result["history"])
    assert result["best"]["val_acc"] == best_val
    lines = (tmp_path / "runs/cifar10/r/metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    ckpt = torch.load(tmp_path / "runs/cifar10/r/last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and (tmp_path / "runs/cifar10/r/best.pt").exists()
    assert not list((tmp_path / "runs/cifar10/r").glob(".*tmp*"))


def test_weight_decay_skips_norms_biases_tokens_and_rotations():
    model = models.build_model("vit_commuting_mixed_rope_2D_4x4_digits", image_size=8, in_chans=1, num_classes=10)
    optimizers = build_optimizers(model)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in optimizers[0].param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert "blocks.0.attn.qkv.weight" in decayed and "head.weight" in decayed
    assert not any("norm" in n or n.endswith("bias") or "encodings" in n or n == "cls_token" for n in decayed)
    assert type(optimizers[1]).__name__ == "RiemannianAdam"  # the Stiefel bases
    assert sum(len(g["params"]) for o in optimizers for g in o.param_groups) == len(names)


def test_nan_loss_stops_with_the_step_and_the_last_good_checkpoint(tmp_path, cifar_root, capsys, monkeypatch):
    calls = {"n": 0}
    forward = ViT.forward

    def poisoned(self, x):
        out = forward(self, x)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 8:  # 5 steps per epoch: the 3rd step of epoch 2
                return out * float("nan")
        return out

    monkeypatch.setattr(ViT, "forward", poisoned)
    assert train(tmp_path, cifar_root, epochs=3) == 2
    err = train_error(capsys)
    assert "at step 8 (epoch 2, batch 3)" in err
    assert f"last good checkpoint is {tmp_path / 'runs/cifar10/r/last.pt'} (epoch 1)" in err
    result = json.loads((tmp_path / "results/cifar10/r.json").read_text())
    assert result["epochs_done"] == 1 and not result["finished"]


@pytest.mark.parametrize(
    "select, chosen",
    [("val_acc", 2), ("val_loss", 3), ("last", 4)],  # ties keep the earlier epoch
)
def test_the_selection_rule_picks_the_epoch_it_names(select, chosen):
    history = [
        {"epoch": 1, "val_acc": 0.5, "val_loss": 0.9},
        {"epoch": 2, "val_acc": 0.8, "val_loss": 0.6},
        {"epoch": 3, "val_acc": 0.8, "val_loss": 0.4},  # saturated accuracy, better loss
        {"epoch": 4, "val_acc": 0.7, "val_loss": 0.4},
    ]
    best = None
    for h in history:
        if trainer.selected(select, h, best):
            best = h
    assert best["epoch"] == chosen
    with pytest.raises(ValueError, match="select='best' is not one of val_acc, val_loss, last"):
        TrainConfig(select="best")


def test_a_zoo_result_from_before_a_recipe_field_reads_back(tmp_path):
    cfg = TrainConfig(model="vit_no_rope_digits", dataset="digits", epochs=1)
    config = {k: getattr(cfg, k) for k in zoo.RECIPE_FIELDS if k != "select"}  # written before select existed
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"finished": True, "config": config}))
    assert zoo._finished(path, cfg)
    assert not zoo._finished(path, dataclasses.replace(cfg, select="last"))


def test_a_checkpoint_from_before_a_setting_resumes_with_its_default(tmp_path):
    current = dataclasses.asdict(TrainConfig(model="vit_no_rope_digits", dataset="digits"))
    saved = {k: v for k, v in current.items() if k != "select"}  # written before select existed
    checkpoint.check_same_run(saved, current, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="select: checkpoint 'val_acc', now 'last'"):
        checkpoint.check_same_run(saved, {**current, "select": "last"}, tmp_path / "last.pt")

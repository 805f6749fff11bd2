"""The ViT, the model registry, the data sets and the trainer's outputs and errors (in process, CPU)."""
from __future__ import annotations

import json
import socket

import pytest
import torch

import rope_blocks as rb

from training import checkpoint, data, main, models
from training.vit import ViT, ViTConfig


# Training tests run on one thread each (the fixture lives in conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def run(tmp_path, cifar_root, *extra, model="vit_rope_2D_axial_2x2_digits", epochs=2, capsys=None):
    """`rope-blocks train` on the CIFAR-format fixture, resized to 8x8 so that it is quick."""
    argv = ["--optimizer", "adamw", "--epochs", str(epochs), "--run_id", "r", "--model", model,
            "--batch_size", "16", "--lr", "0.001", "--input_size", "8", "--data_path", str(cifar_root),
            "--dataset", "cifar10", "--num_workers", "0", "--out", str(tmp_path), "--no_progress", *extra]
    return main.main(argv)


def error_of(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks train: error: "), err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------- model registry and ViT

def test_registry_holds_the_seed_rows_and_the_new_families():
    seed = ["vit_no_rope_cifar10", "vit_rope_1D_axial_2x2_cifar10", "vit_rope_2D_axial_2x2_cifar10",
            "vit_rope_2D_axial_3x3_0_cifar10", "vit_rope_2D_axial_3x3_1_cifar10", "vit_rope_2D_axial_3x3_2_cifar10",
            "vit_rope_2D_axial_4x4_0_cifar10", "vit_rope_2D_axial_5x5_0_cifar10", "vit_rope_2D_axial_6x6_0_cifar10",
            "vit_weighted_rope_2D_axial_3x3_cifar10", "vit_weighted_rope_2D_axial_4x4_cifar10"]
    assert set(seed) <= set(models.REGISTRY)
    # The seed's widths (REFERENCES.md), on a 32x32 grid this time.
    widths = {"vit_no_rope_cifar10": 128, "vit_rope_2D_axial_3x3_1_cifar10": 144,
              "vit_rope_2D_axial_5x5_0_cifar10": 160, "vit_weighted_rope_2D_axial_4x4_cifar10": 128}
    for name, dim in widths.items():
        cfg = models.model_config(name, image_size=32, in_chans=3, num_classes=10)
        assert (cfg.dim, cfg.mlp_dim, cfg.depth, cfg.heads, cfg.patch_size, cfg.image_size) == (dim, 2 * dim, 4, 4, 1, 32)
    planes = {j: models.model_config(f"vit_rope_2D_axial_3x3_{j}_cifar10", image_size=32, in_chans=3,
                                     num_classes=10).enc_options["plane"] for j in range(3)}
    assert planes == {0: (0, 1), 1: (0, 2), 2: (1, 2)}
    families = {models.REGISTRY[n][0].family for n in models.model_names("digits")}
    assert families == {"none", "axial", "givens", "weighted", "mixed", "commuting", "liere"}
    for design in ("axial", "mixed"):
        for k in (2, 3, 4, 6, 8):
            assert f"vit_commuting_{design}_rope_2D_{k}x{k}_cifar10" in models.REGISTRY
    liere = models.model_config("vit_liere_rope_2D_8x8_digits", image_size=8, in_chans=1, num_classes=10)
    assert liere.pos_scale == pytest.approx(1 / 7)  # LieRE: the training grid spans [0, 1]
    canvas = models.model_config("vit_rope_2D_axial_2x2_digits_canvas", image_size=16, in_chans=1, num_classes=10)
    assert (canvas.patch_size, canvas.grid, canvas.pool, canvas.dim) == (2, 8, "mean", 48)


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


def test_every_registered_model_takes_a_training_step(cifar_root):
    splits = data.load("cifar10", cifar_root)
    images, labels = splits.train[:4]
    x = splits.prepare(images, 8)
    cfg = main.TrainConfig()
    for name in models.REGISTRY:
        torch.manual_seed(0)
        model = models.build_model(name, image_size=8, in_chans=3, num_classes=10, dropout=0.0)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        optimizers = main.build_optimizers(model, cfg)
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        for opt in optimizers:
            opt.step()
        assert torch.isfinite(loss), name
        moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
        assert "head.weight" in moved and "blocks.0.attn.qkv.weight" in moved, name


def test_class_token_is_not_rotated_and_relative_models_see_offsets_only():
    # With only relative rotations (no absolute embedding) and mean pooling, shifting the content of a
    # zero-padded image must not change the output up to the edges: the translation RoPE is known for.
    torch.manual_seed(0)
    cfg = ViTConfig(image_size=8, in_chans=1, num_classes=3, dim=16, depth=1, heads=2, dim_head=8, mlp_dim=16,
                    family="axial", pool="mean")
    model = ViT(cfg).eval()
    with torch.no_grad():
        model.patch_embed.bias.zero_()  # blank pixels then give zero tokens, so padding is invisible
    img = torch.zeros(1, 1, 12, 12)
    img[0, 0, 2:6, 3:7] = torch.randn(4, 4)
    shifted = torch.roll(img, shifts=(3, 2), dims=(2, 3))
    with torch.no_grad():
        a, b = model(img), model(shifted)
    assert torch.allclose(a, b, atol=1e-5)
    # An absolute embedding is the negative control: the same shift changes its output.
    torch.manual_seed(0)
    absolute = ViT(ViTConfig(**{**cfg.__dict__, "family": "none", "image_size": 12})).eval()
    with torch.no_grad():
        absolute.patch_embed.bias.zero_()
        assert not torch.allclose(absolute(img), absolute(shifted), atol=1e-5)
    # The class token (no position) goes through the encoding at position 0, where it is not rotated.
    seen = {}
    cls_model = ViT(ViTConfig(image_size=4, in_chans=1, num_classes=3, dim=16, depth=1, heads=2, dim_head=8,
                              mlp_dim=16, family="axial"))
    enc = cls_model.encodings[0]
    original = enc.forward

    def spy(q, k, pos, **kwargs):
        seen["pos"], seen["out"], seen["q"] = pos, original(q, k, pos, **kwargs), q
        return seen["out"]

    enc.forward = spy
    cls_model(torch.randn(2, 1, 4, 4))
    assert seen["pos"].shape == (17, 2) and not seen["pos"][0].any()
    assert torch.equal(seen["out"][0][:, :, 0], seen["q"][:, :, 0])


@pytest.mark.parametrize("name", ["vit_rope_2D_axial_3x3_1_digits", "vit_commuting_axial_rope_2D_4x4_digits",
                                  "vit_commuting_mixed_rope_2D_3x3_matched_digits", "vit_liere_rope_2D_4x4_digits",
                                  "vit_mixed_rope_2D_2x2_digits", "vit_weighted_rope_2D_axial_3x3_digits"])
def test_logit_path_gives_the_same_network_as_the_full_rotation(name):
    # The ViT leaves q and k in the encoding's plane basis (for_logits); with a learned or
    # permuted basis this holds only if the class token is in that basis too.
    torch.manual_seed(0)
    model = models.build_model(name, image_size=8, in_chans=1, num_classes=10, dropout=0.0).eval()
    with torch.no_grad():
        stiefel = set(rb.stiefel_parameters(model))
        for p in model.encodings.parameters():  # move learned bases and frequencies off their start
            if p in stiefel:
                p.copy_(torch.linalg.qr(torch.randn_like(p))[0])  # another point of the manifold
            else:
                p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        fast = model(x)
        for enc in model.encodings:  # whatever the ViT asks for, rotate fully
            enc.forward = lambda q, k, pos, for_logits, enc=enc: type(enc).forward(enc, q, k, pos)
        full = model(x)
    assert torch.allclose(fast, full, atol=1e-5), (fast - full).abs().max()


def test_absolute_embedding_only_for_the_baseline_and_resized_for_other_inputs():
    base = models.build_model("vit_no_rope_digits", image_size=8, in_chans=1, num_classes=10)
    rope = models.build_model("vit_rope_2D_axial_2x2_digits", image_size=8, in_chans=1, num_classes=10)
    assert base.pos_embed is not None and rope.pos_embed is None
    assert len(base.encodings) == 0 and len(rope.encodings) == rope.cfg.depth
    assert base(torch.randn(2, 1, 16, 16)).shape == (2, 10)  # bigger canvas: the embedding is resampled


def test_shared_and_per_layer_encodings():
    kwargs = dict(image_size=4, in_chans=1, num_classes=3, dim=16, depth=3, heads=2, dim_head=8, mlp_dim=16,
                  family="mixed")
    per_layer, shared = ViT(ViTConfig(**kwargs)), ViT(ViTConfig(**kwargs, share_encoding=True))
    n_enc = sum(p.numel() for p in per_layer.encodings[0].parameters())
    assert n_enc > 0
    assert sum(p.numel() for p in per_layer.encodings.parameters()) == 3 * n_enc
    assert sum(p.numel() for p in shared.encodings.parameters()) == n_enc
    # Per layer, each layer's frequencies get their own gradient; shared, one tensor collects all three.
    x = torch.randn(2, 1, 4, 4)
    shared(x).sum().backward()
    grads = [p.grad for p in shared.encodings.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    per_layer(x).sum().backward()
    g = [next(e.parameters()).grad for e in per_layer.encodings]
    assert not torch.equal(g[0], g[1])


# ---------------------------------------------------------------- data

def test_cifar_reader_reads_the_official_format(cifar_root):
    s = data.load("cifar10", cifar_root)
    assert (len(s.train), len(s.val), len(s.test)) == (90, 10, 40)
    assert s.train.images.dtype == torch.uint8 and s.train.images.shape[1:] == (3, 32, 32)
    x = s.prepare(s.train.images[:2], 8)
    assert x.shape == (2, 3, 8, 8) and x.min() >= -1 and x.max() <= 1


def test_cifar100_and_synthetic(tmp_path):
    from conftest import write_cifar

    s = data.load("cifar100", write_cifar(tmp_path, "cifar100"))
    assert (len(s.train), len(s.val), len(s.test), s.num_classes) == (90, 10, 40, 100)
    assert s.train.labels.max() > 10
    syn = data.load("synthetic", image_size=12)
    assert syn.train.images.shape[1:] == (3, 12, 12) and len(syn.train) == 2048


def test_damaged_cifar_file_is_named(tmp_path):
    from conftest import write_cifar

    root = write_cifar(tmp_path)
    (root / "cifar-10-batches-py/data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3 is not a readable CIFAR batch file"):
        data.load("cifar10", root)


def test_digits_load_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    a, b = data.load("digits"), data.load("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1258, 180, 359)
    assert a.train.images.shape[1:] == (1, 8, 8) and a.num_classes == 10
    assert torch.equal(a.test.images, b.test.images)  # a fixed split
    all_rows = torch.cat([a.train.images, a.val.images, a.test.images]).flatten(1)
    assert len(torch.unique(all_rows, dim=0)) > 1700  # the splits do not repeat images


def test_canvas_places_digits_at_random_offsets():
    imgs = torch.full((200, 1, 8, 8), 200, dtype=torch.uint8)
    out = data.place_on_canvas(imgs, 16, seed=1)
    assert out.shape == (200, 1, 16, 16) and (out > 0).sum(dim=(1, 2, 3)).eq(64).all()
    corners = {tuple(torch.nonzero(o[0])[0].tolist()) for o in out}
    assert len(corners) > 40
    aligned = {tuple(torch.nonzero(o[0])[0].tolist()) for o in data.place_on_canvas(imgs, 16, seed=1, step=2)}
    assert aligned == {(r, c) for r in range(0, 9, 2) for c in range(0, 9, 2)}  # every whole-patch offset, no other
    centred = data.place_on_canvas(imgs[:3], 16, offset=4)
    assert centred[:, :, 4:12, 4:12].eq(200).all() and centred.sum() == 3 * 64 * 200
    with pytest.raises(ValueError, match="offset 9 puts a 8x8 image outside a 16x16 canvas"):
        data.place_on_canvas(imgs, 16, offset=9)


def test_digits_canvas_is_the_digits_split_centred():
    digits, canvas = data.load("digits"), data.load("digits_canvas")
    for a, b in ((digits.train, canvas.train), (digits.test, canvas.test)):
        assert b.images.shape[1:] == (1, 16, 16) and torch.equal(a.labels, b.labels)
        assert torch.equal(b.images[:, :, 4:12, 4:12], a.images) and b.images.sum() == a.images.sum()
    assert (canvas.mean, canvas.std) == (digits.mean, digits.std)


# ---------------------------------------------------------------- trainer outputs

def test_train_writes_metrics_result_and_checkpoints(tmp_path, cifar_root):
    assert run(tmp_path, cifar_root, "--seed", "3") == 0
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
    optimizers = main.build_optimizers(model, main.TrainConfig())
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in optimizers[0].param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert "blocks.0.attn.qkv.weight" in decayed and "head.weight" in decayed
    assert not any("norm" in n or n.endswith("bias") or "encodings" in n or n == "cls_token" for n in decayed)
    assert type(optimizers[1]).__name__ == "RiemannianAdam"  # the Stiefel bases
    assert sum(len(g["params"]) for o in optimizers for g in o.param_groups) == len(names)


def test_seed_command_line_is_accepted():
    argv = ("--optimizer adamw --epochs 25 --run_id vit_rope_2D_axial_3x3_0_cifar10 --model "
            "vit_rope_2D_axial_3x3_0_cifar10 --input_size 36 --cuda --distributed --world_size 4 "
            "--batch_size 64 --lr 0.001").split()
    cfg = main.parse_args(argv)
    assert (cfg.cuda, cfg.distributed, cfg.world_size, cfg.input_size, cfg.amp) == (True, True, 4, 36, True)


# ---------------------------------------------------------------- bad input: clear errors, nothing lost

def test_unknown_model_suggests_the_closest(tmp_path, cifar_root, capsys):
    assert run(tmp_path, cifar_root, model="vit_rope_2D_axial_2x2_cifar") == 2
    assert "Did you mean 'vit_rope_2D_axial_2x2_cifar10'" in error_of(capsys)


def test_missing_dataset_offline_says_where_to_put_it(tmp_path, monkeypatch, capsys):
    import torchvision.datasets.cifar

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", offline)
    code = main.main(["--model", "vit_no_rope_cifar10", "--data_path", str(tmp_path / "nowhere"), "--no_progress",
                      "--out", str(tmp_path)])
    err = error_of(capsys)
    assert code == 2 and "cifar-10-python.tar.gz" in err and str(tmp_path / "nowhere") in err


@pytest.mark.parametrize("flags, needle", [
    (["--batch_size", "91"], "larger than the 90 training images"),
    (["--distributed", "--world_size", "4096"], "--world_size 4096 is larger than"),
    (["--world_size", "2"], "needs --distributed"),
    (["--epochs", "0"], "--epochs must be at least 1"),
])
def test_bad_flags(tmp_path, cifar_root, capsys, flags, needle):
    assert run(tmp_path, cifar_root, *flags) == 2
    assert needle in error_of(capsys)
    assert not (tmp_path / "results").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu(tmp_path, cifar_root, capsys):
    assert run(tmp_path, cifar_root, "--cuda") == 2
    assert "--cuda was given but no CUDA GPU" in error_of(capsys)


def test_existing_outputs_are_not_overwritten(tmp_path, cifar_root, capsys):
    assert run(tmp_path, cifar_root, epochs=1) == 0
    result = tmp_path / "results/cifar10/r.json"
    before = result.read_text()
    assert run(tmp_path, cifar_root, epochs=1) == 2
    assert "--resume" in error_of(capsys) and result.read_text() == before
    # Asking for more epochs than the checkpoint was made for is a different run.
    assert run(tmp_path, cifar_root, "--resume", epochs=3) == 2
    assert "epochs: checkpoint 1, now 3" in error_of(capsys) and result.read_text() == before
    assert run(tmp_path, cifar_root, "--overwrite", "--seed", "5", epochs=1) == 0
    assert json.loads(result.read_text())["seed"] == 5


def test_corrupt_checkpoint_is_named_and_the_older_one_kept(tmp_path, cifar_root, capsys):
    assert run(tmp_path, cifar_root) == 0
    last, best = tmp_path / "runs/cifar10/r/last.pt", tmp_path / "runs/cifar10/r/best.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a full disk
    best_bytes = best.read_bytes()
    assert run(tmp_path, cifar_root, "--resume") == 2
    err = error_of(capsys)
    assert f"checkpoint {last} cannot be used" in err and f"--resume {best}" in err
    assert last.stat().st_size == 1000 and best.read_bytes() == best_bytes
    # Resuming from the named older checkpoint works.
    assert run(tmp_path, cifar_root, "--resume", str(best)) == 0


def test_mismatched_checkpoint_is_refused(tmp_path, cifar_root, capsys):
    assert run(tmp_path, cifar_root, epochs=1) == 0
    assert run(tmp_path, cifar_root, "--resume", "--lr", "0.01", epochs=1) == 2
    assert "lr: checkpoint 0.001, now 0.01" in error_of(capsys)


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
    assert run(tmp_path, cifar_root, epochs=3) == 2
    err = error_of(capsys)
    assert "at step 8 (epoch 2, batch 3)" in err
    assert f"last good checkpoint is {tmp_path / 'runs/cifar10/r/last.pt'} (epoch 1)" in err
    result = json.loads((tmp_path / "results/cifar10/r.json").read_text())
    assert result["epochs_done"] == 1 and not result["finished"]


# ---------------------------------------------------------------- the zoo

INTERVAL = r"0\.\d{4} \[-?\d\.\d{4}, \d\.\d{4}\]"  # mean [95% interval], as in the summary tables


def nothing_written(root) -> bool:
    return not any(p.is_file() for p in root.rglob("*"))


def test_zoo_suite_groups():
    from training import probes, zoo

    digits = zoo.suite_groups("digits", quick=False)
    assert [(g.dataset, set(g.models), g.seeds) for g in digits] == [
        ("digits", set(models.model_names("digits")), (0, 1, 2)),
        ("digits", set(models.model_names("matched_digits")), (0, 1, 2, 3, 4))]
    assert zoo.REFERENCE in digits[1].models
    groups = zoo.suite_groups("probes", quick=False)
    assert [(g.dataset, g.seeds, g.epochs) for g in groups] == [(task, probes.SEEDS, epochs)
                                                                 for task, _, epochs in probes.SUITE.values()]
    for g, size in zip(groups, probes.SUITE):
        assert all(models.size_of(m) == size and zoo.training_set(m) == g.dataset for m in g.models)
    for suite in zoo.SUITES:
        for g in zoo.suite_groups(suite, quick=True):
            assert g.seeds == (0,) and all(m in models.REGISTRY for m in g.models)
    # --models: one group per size, with that size's seeds and epochs (so each table names one size).
    args = zoo.parse_args(["--suite", "probes", "--models", "vit_no_rope_probe_extrapolate_cls",
                           "vit_no_rope_probe_diagonal", "vit_no_rope_probe_extrapolate", "--seeds", "3"])
    assert [(g.dataset, g.models, g.seeds) for g in args.groups] == [
        ("probe_extrapolate", ("vit_no_rope_probe_extrapolate_cls",), (3,)),
        ("probe_diagonal", ("vit_no_rope_probe_diagonal",), (3,)),
        ("probe_extrapolate", ("vit_no_rope_probe_extrapolate",), (3,))]
    assert [g.epochs for g in args.groups] == [probes.SUITE[s][2] for s in
                                               ("probe_extrapolate_cls", "probe_diagonal", "probe_extrapolate")]
    args = zoo.parse_args(["--models", "vit_no_rope_digits", "vit_no_rope_matched_digits"])
    assert [(g.models, g.seeds) for g in args.groups] == [(("vit_no_rope_digits",), (0, 1, 2)),
                                                          (("vit_no_rope_matched_digits",), (0, 1, 2, 3, 4))]


def test_zoo_digits_suite_trains_tabulates_compares_and_reuses(tmp_path, capsys):
    import re

    from scipy import stats as scipy_stats

    from training import zoo

    other = "vit_rope_2D_axial_2x2_matched_digits"
    argv = ["--models", "vit_no_rope_digits", zoo.REFERENCE, other, "--seeds", "0", "1", "--epochs", "1",
            "--batch_size", "256", "--jobs", "1", "--out", str(tmp_path)]
    # A summary from before the suites (no "suite" key) is the digits suite's: accepted and replaced.
    legacy = tmp_path / "results/digits/summary.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"command": "rope-blocks zoo --dataset digits", "runs": [], "failures": []}))
    assert zoo.main(argv) == 0
    summary = json.loads(legacy.read_text())
    assert summary["suite"] == "digits" and summary["command"].startswith("rope-blocks zoo")
    assert len(summary["runs"]) == 6 and not summary["failures"]
    assert summary["groups"] == [{"dataset": "digits", "models": ["vit_no_rope_digits"], "seeds": [0, 1], "epochs": 1},
                                 {"dataset": "digits", "models": [zoo.REFERENCE, other], "seeds": [0, 1], "epochs": 1}]
    for row in summary["runs"]:
        assert row["extra_acc"] == {} and not row["reused"] and row["dataset"] == "digits"
        assert (tmp_path / f"results/digits/{row['run_id']}.json").is_file()
    # The best checkpoint, reloaded, scores what the result file says it scored on the test set.
    row = summary["runs"][-1]
    model, splits = checkpoint.load_run(tmp_path / f"runs/digits/{row['run_id']}/best.pt")[1], data.load("digits")
    assert zoo.accuracy(model, splits.test.images, splits.test.labels, splits) == pytest.approx(row["test_acc"])
    # The equivalence with the reference: one paired difference over the two seeds.
    (c,) = summary["equivalence"]["comparisons"]
    assert summary["equivalence"]["reference"] == zoo.REFERENCE and c["a"] == [other] and c["b"] == [zoo.REFERENCE]
    acc = {(r["model"], r["seed"]): r["test_acc"] for r in summary["runs"]}
    diffs = [acc[other, s] - acc[zoo.REFERENCE, s] for s in (0, 1)]
    assert c["seeds"] == [0, 1] and c["difference"] == pytest.approx(sum(diffs) / 2)
    if diffs[0] != diffs[1]:
        assert c["ci"] == pytest.approx(scipy_stats.t.interval(0.95, 1, loc=sum(diffs) / 2, scale=scipy_stats.sem(diffs)))
    table = (tmp_path / "results/digits/summary.md").read_text()
    assert table.startswith("# digits zoo") and "| vit_no_rope_digits | 2 | " in table
    assert re.search(rf"\| {other} \| 2 \| {INTERVAL} \|", table), table
    assert re.search(r"\| rope_2D_axial_2x2 \| [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] "
                     r"\| (equivalent|differs|undecided) \|", table), table
    assert f"Each matched model against {zoo.REFERENCE}" in table
    capsys.readouterr()
    assert zoo.main(argv) == 0
    assert capsys.readouterr().out.count("(already trained)") == 6
    again = json.loads(legacy.read_text())
    assert all(r["reused"] for r in again["runs"]) and again["equivalence"] == summary["equivalence"]
    # Without the reference among the models there is nothing to compare with.
    assert zoo.main([*argv[:1], "vit_no_rope_digits", *argv[4:]]) == 0
    assert "Each matched model against" not in (tmp_path / "results/digits/summary.md").read_text()


def _probe_accuracies(model, task: str) -> tuple[dict, dict]:
    """Accuracy on the test split and the extra tests of seed 0, with images normalised here (blank -1,
    mark +1), and the classes the model answers on each."""
    from training import probes

    accuracies, answers = {}, {}
    with torch.no_grad():
        for test, (images, labels) in {"test": probes.splits(task, 0)["test"], **probes.extra_tests(task, 0)}.items():
            guess = model(images.float() / 127.5 - 1).argmax(-1)
            accuracies[test], answers[test] = (guess == labels).double().mean().item(), set(guess.tolist())
    return accuracies, answers


def test_zoo_probes_suite_scores_the_extra_tests(tmp_path, capsys):
    from training import probes, zoo

    names = {"vit_mixed_rope_2D_2x2_probe_shift": "probe_shift",
             "vit_rope_2D_axial_2x2_probe_extrapolate": "probe_extrapolate"}
    # Batches of 32: 128 steps, after which the shift model tells its images apart (with batches of 256 both
    # models answer one class whatever they see, and score that class's share under any labelling).
    argv = ["--suite", "probes", "--models", *names, "--seeds", "0", "--epochs", "1", "--batch_size", "32",
            "--jobs", "1", "--out", str(tmp_path)]
    assert zoo.main(argv) == 0
    summary_path = tmp_path / "results/probes/summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["suite"] == "probes" and not summary["failures"] and len(summary["runs"]) == 2
    assert not (tmp_path / "results/digits").exists()
    assert set(summary["predictions"]) == set(probes.PREDICTIONS)
    # one seed and few of the models: every prediction is undecided
    assert all(p["verdict"] == "undecided" for p in summary["predictions"].values())
    varied = []
    for row in summary["runs"]:
        task = names[row["model"]]
        assert row["dataset"] == task and list(row["extra_acc"]) == list(probes.extra_tests(task, 0))
        assert (tmp_path / f"results/probes/{task}/{row['run_id']}.json").is_file()
        best = tmp_path / f"runs/probes/{task}/{row['run_id']}/best.pt"
        # The reloaded best checkpoint gives the recorded accuracies.
        measured, answers = _probe_accuracies(checkpoint.load_run(best)[1], task)
        assert measured == pytest.approx({"test": row["test_acc"], **row["extra_acc"]}, abs=1e-6), row["model"]
        varied += [test for test in row["extra_acc"] if len(answers[test]) > 1]
    assert varied, "no extra test where a model answers more than one class: the comparison above proves little"
    table = (tmp_path / "results/probes/summary.md").read_text()
    assert "| moved by whole patches acc | moved off the patch grid acc |" in table
    assert "| 12x12 grid acc | 16x16 grid acc |" in table
    assert all(f"{pid}: " in table for pid in probes.PREDICTIONS)
    capsys.readouterr()
    assert zoo.main(argv) == 0
    assert capsys.readouterr().out.count("(already trained)") == 2
    again = json.loads(summary_path.read_text())["runs"]
    assert [r["extra_acc"] for r in again] == [r["extra_acc"] for r in summary["runs"]]


@pytest.mark.parametrize("argv, words", [
    (["--suite", "probes", "--models", "vit_no_rope_digits"], ["vit_no_rope_digits", "--suite digits"]),
    (["--models", "vit_mixed_rope_2D_2x2_probe_shift"], ["vit_mixed_rope_2D_2x2_probe_shift", "--suite probes"]),
    (["--suite", "digits", "--models", "vit_no_rope_matched_digits", "vit_no_rope_probe_diagonal"],
     ["vit_no_rope_probe_diagonal", "--suite probes"]),
    (["--suite", "probes", "--models", "vit_no_rope_cifar10"], ["vit_no_rope_cifar10", "size of no suite"]),
    (["--models", "vit_no_rope_matched_cifar10"], ["vit_no_rope_matched_cifar10", "size of no suite"]),
])
def test_zoo_rejects_models_of_another_suite(tmp_path, capsys, argv, words):
    from training import zoo

    assert zoo.main([*argv, "--epochs", "1", "--jobs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks zoo: error: ") and "Traceback" not in err
    assert all(w in err for w in words), err
    assert nothing_written(tmp_path)


def test_zoo_rejects_an_unknown_suite(tmp_path, capsys):
    from training import zoo

    with pytest.raises(SystemExit) as e:
        zoo.main(["--suite", "cifar", "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--suite" in err and "'cifar'" in err and "digits" in err and "probes" in err
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("earlier", [{"suite": "digits", "command": "rope-blocks zoo --suite digits", "runs": []},
                                     {"command": "rope-blocks zoo --dataset digits", "runs": []}])
def test_zoo_refuses_to_write_over_another_suites_summary(tmp_path, capsys, earlier):
    from training import zoo

    fake = tmp_path / "results/probes/summary.json"
    fake.parent.mkdir(parents=True)
    fake.write_text(json.dumps(earlier))
    before = fake.read_text()
    assert zoo.main(["--suite", "probes", "--models", "vit_no_rope_probe_shift", "--seeds", "0", "--epochs", "1",
                     "--jobs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rope-blocks zoo: error: ") and str(fake) in err and earlier["command"] in err
    assert "another suite" in err and "--out" in err
    assert fake.read_text() == before
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [fake]
    # An unreadable summary is not overwritten either.
    fake.write_text("{not json")
    assert zoo.main(["--suite", "probes", "--models", "vit_no_rope_probe_shift", "--out", str(tmp_path)]) == 2
    assert "cannot be read" in capsys.readouterr().err and fake.read_text() == "{not json"


def test_zoo_rejects_unknown_models(capsys):
    from training import zoo

    assert zoo.main(["--models", "vit_liere_rope_2D_4x4_digit"]) == 2
    assert "Did you mean 'vit_liere_rope_2D_4x4_digits'" in capsys.readouterr().err


def test_zoo_does_not_pass_off_a_run_with_other_settings(tmp_path, capsys):
    from training import zoo

    argv = ["--models", "vit_rope_2D_axial_2x2_digits", "--seeds", "0", "--batch_size", "256", "--jobs", "1",
            "--out", str(tmp_path)]
    assert zoo.main([*argv, "--epochs", "1"]) == 0
    result = tmp_path / "results/digits/vit_rope_2D_axial_2x2_digits_seed0.json"
    before = result.read_text()
    assert zoo.main([*argv, "--epochs", "2"]) == 1  # the 1-epoch run is neither reused nor overwritten
    assert "epochs: checkpoint 1, now 2" in capsys.readouterr().out and result.read_text() == before

"""The benchmarks run end to end at tiny sizes (no timing is asserted), and `rope-blocks bench` parses as before."""

from __future__ import annotations

import json

import pytest
import torch

import rope_blocks as rb
from benchmarks import bench_encodings, bench_train
from benchmarks.common import write_result
from commands import bench


def test_bench_encodings_smoke(tmp_path):
    shapes = {"tiny": (2, 2, 9, 8)}
    rows = bench_encodings.run_encodings(
        shapes, torch.device("cpu"), torch.float32, warmup=0, reps=1, block_sizes=(2, 4, "D"), log=lambda line: None
    )
    labels = {r["label"] for r in rows}
    assert labels == set(bench_encodings.LABELS)
    first = rows[0]
    assert first["label"] == "axial" and first["time_ratio"] == 1.0 and first["memory_ratio"] == 1.0
    assert all(r["seconds"] > 0 and r["memory_bytes"] > 0 for r in rows)
    # k = D = 8 leaves one block, too few for an axial design over 2 axes: givens has no such row
    assert not any(r["label"] == "givens" and r["k"] == 8 for r in rows)
    assert any(r["label"] == "commuting/cayley" and r["k"] == 8 for r in rows)
    assert "| commuting/logits |" in bench_encodings.table(rows)
    assert "| commuting/fold |" in bench_encodings.table(rows)
    argv = ["rope-blocks", "bench", "encodings", "--batch", "2"]
    path = write_result("encodings", torch.device("cpu"), {"rows": rows}, tmp_path, argv)
    saved = json.loads(path.read_text())
    assert path.name == "cpu-encodings.json"
    assert saved["rows"] == rows and {"command", "commit", "device", "torch", "python", "date"} <= set(saved)
    assert saved["command"] == "rope-blocks bench encodings --batch 2"
    assert saved["device"].startswith("1 x CPU process (")


def test_token_positions_are_the_first_cells_of_a_square_grid():
    pos = bench_encodings.token_positions(197)  # the ViT-B shape: 15 x 15 cells hold 197 tokens
    assert pos.shape == (197, 2) and pos.dtype == torch.float32
    assert torch.equal(pos, torch.cartesian_prod(torch.arange(15), torch.arange(15))[:197].float())


def test_exp_baselines_compute_the_same_rotation():
    torch.manual_seed(0)
    enc = bench_encodings.make_case("commuting/cayley", 4, 2, 8)
    q = torch.randn(2, 2, 9, 8)
    pos = rb.grid_positions(3, 3)
    expected = enc(q, q, pos)[0]
    for dense in (True, False):
        got = bench_encodings.ExpBaseline(enc, dense=dense)(q, q, pos)[0]
        assert torch.allclose(got, expected, atol=1e-5)


def test_folded_case_returns_the_folded_weights():
    torch.manual_seed(0)
    case = bench_encodings.make_case("commuting/fold", 4, 2, 8)
    q = torch.randn(2, 2, 9, 8)
    pos = rb.grid_positions(3, 3)
    q2, _, wq, wk = case(q, q, pos)
    assert torch.equal(q2, case.enc(q, q, pos, folded=True)[0])
    assert wq.shape == wk.shape == (16, 16) and torch.equal(wq, case.enc.fold_weight(case.weights[0]))


def test_bench_train_smoke():
    seed = bench_train.suites("seed")
    assert len(seed) == 11 and seed[0] == "vit_no_rope_cifar10"
    assert [n for n in bench_train.suites("fold") if bench_train.foldable(n)] == [
        "vit_commuting_mixed_rope_2D_4x4_matched_cifar10",
        "vit_commuting_axial_rope_2D_4x4_matched_cifar10",
    ]
    rows = [
        bench_train.measure(name, torch.device("cpu"), batch=1, amp=False, compile_=False, warmup=0, reps=1, fold=fold)
        for name, fold in (
            ("vit_rope_2D_axial_2x2_cifar10", False),
            ("vit_commuting_axial_rope_2D_4x4_cifar10", False),
            ("vit_commuting_axial_rope_2D_4x4_cifar10", True),
        )
    ]
    for row in rows:
        assert row["images_per_second"] > 0 and row["flops_per_image"] > 1e6 and row["mfu"] is None
        assert any("scaled_dot_product" in k for k in row["sdpa_kernels"])
    assert "| vit_commuting_axial_rope_2D_4x4_cifar10 | no |" in bench_train.table(rows)
    assert "| vit_commuting_axial_rope_2D_4x4_cifar10 (fold) | no |" in bench_train.table(rows)
    # Folded, the basis costs no map per token: the FLOPs of the axial 2x2 model (+ one product per weight).
    assert rows[2]["flops_per_image"] < rows[1]["flops_per_image"]
    assert bench_train.projected_seconds(rows, seed, compile_=False) is None  # not every seed model measured
    rates = [{"model": m, "compile": False, "images_per_second": 1000.0} for m in seed]
    assert bench_train.projected_seconds(rates, seed, compile_=False) == 11 * 25 * 50_000 / 1000.0


def test_bench_train_references_are_the_2x2_models_of_the_same_size():
    assert bench_train.same_size("axial", "vit_commuting_axial_rope_2D_4x4_matched_cifar10") == (
        "vit_rope_2D_axial_2x2_matched_cifar10"
    )
    assert bench_train.same_size("mixed", "vit_rope_2D_axial_3x3_1_cifar10") == "vit_mixed_rope_2D_2x2_cifar10"


def test_bench_command_writes_its_result(tmp_path, capsys):
    argv = ["encodings", "--batch", "1", "--reps", "1", "--warmup", "0", "--block_sizes", "2", "--labels", "axial",
            "mixed", "--out", str(tmp_path), "--name", "tiny"]  # fmt: skip
    assert bench.main(argv) == 0
    saved = json.loads((tmp_path / "cpu-tiny.json").read_text())
    assert saved["command"] == "rope-blocks bench " + " ".join(argv)
    assert [r["label"] for r in saved["rows"]] == ["axial", "mixed"] * 2  # both shapes
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["encodings", "--labels", "mixed", "axial"], "--labels must start with axial"),
        (["encodings", "--block-sizes", "1"], "integers >= 2 or D"),
        (["encodings", "--batch", "0"], "--batch and --reps must be >= 1"),
        (["train", "--models", "nope"], "invalid choice"),
        (["train", "--compile-models", "fold"], "invalid choice"),
        (["encodings", "--device", "gpu"], "use cpu or cuda"),
        ([], "required"),
    ],
)
def test_bench_command_errors_name_the_fix(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_bench_defaults_and_both_flag_spellings():
    parse = bench.build_parser().parse_args
    enc = parse(["encodings"])
    assert (enc.device, enc.batch, enc.reps, enc.warmup, enc.threads) == ("cpu", 64, 5, 2, None)
    assert enc.out == bench.provenance.RUNS / "bench" and enc.name == "encodings"
    assert enc.block_sizes == bench_encodings.BLOCK_SIZES and enc.labels == bench_encodings.LABELS
    train = parse(["train"])
    assert (train.models, train.fold, train.compile, train.compile_models, train.name) == (
        "all",
        False,
        None,
        "all",
        None,
    )
    # the old command lines' underscore spellings still work
    assert parse(["encodings", "--block_sizes", "2", "D"]).block_sizes == [2, "D"]
    assert parse(["train", "--compile_models", "seed"]).compile_models == "seed"

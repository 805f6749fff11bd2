"""The benchmark scripts run end to end at tiny sizes (no timing is asserted)."""
from __future__ import annotations

import json

import torch

from benchmarks import bench_encodings
from benchmarks.common import write_result


def test_bench_encodings_smoke(tmp_path):
    shapes = {"tiny": (2, 2, 9, 8)}
    rows = bench_encodings.run(shapes, torch.device("cpu"), torch.float32, warmup=0, reps=1,
                               block_sizes=(2, 4, "D"), log=lambda line: None)
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
    path = write_result("encodings", torch.device("cpu"), {"rows": rows}, tmp_path, "benchmarks.bench_encodings", [])
    saved = json.loads(path.read_text())
    assert path.name == "cpu-encodings.json"
    assert saved["rows"] == rows and {"command", "commit", "device", "torch", "date"} <= set(saved)


def test_exp_baselines_compute_the_same_rotation():
    torch.manual_seed(0)
    enc = bench_encodings.make_case("commuting/cayley", 4, 2, 8)
    q = torch.randn(2, 2, 9, 8)
    pos = bench_encodings.grid_positions(9)
    expected = enc(q, q, pos)[0]
    for dense in (True, False):
        got = bench_encodings.ExpBaseline(enc, dense=dense)(q, q, pos)[0]
        assert torch.allclose(got, expected, atol=1e-5)


def test_folded_case_returns_the_folded_weights():
    torch.manual_seed(0)
    case = bench_encodings.make_case("commuting/fold", 4, 2, 8)
    q = torch.randn(2, 2, 9, 8)
    pos = bench_encodings.grid_positions(9)
    q2, _, wq, wk = case(q, q, pos)
    assert torch.equal(q2, case.enc(q, q, pos, folded=True)[0])
    assert wq.shape == wk.shape == (16, 16) and torch.equal(wq, case.enc.fold_weight(case.weights[0]))


def test_bench_train_smoke():
    from benchmarks import bench_train

    seed = bench_train.suites("seed")
    assert len(seed) == 11 and seed[0] == "vit_no_rope_cifar10"
    assert [n for n in bench_train.suites("fold") if bench_train.foldable(n)] == [
        "vit_commuting_mixed_rope_2D_4x4_matched_cifar10", "vit_commuting_axial_rope_2D_4x4_matched_cifar10"]
    rows = [bench_train.measure(name, torch.device("cpu"), batch=1, amp=False, compile_=False, warmup=0, reps=1,
                                fold=fold)
            for name, fold in (("vit_rope_2D_axial_2x2_cifar10", False),
                               ("vit_commuting_axial_rope_2D_4x4_cifar10", False),
                               ("vit_commuting_axial_rope_2D_4x4_cifar10", True))]
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

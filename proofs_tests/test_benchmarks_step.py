"""`rope-blocks bench step` runs end to end at a tiny shape (no timing is asserted), counts the same FLOPs
on every attention path, and sets each row against the peak and timm's model of the same run."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import bench_step, step_cases
from benchmarks.step_cases import TIMM, Case
from commands import bench

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = step_cases.SHAPES["tiny"]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def payload():
    torch.set_num_threads(1)
    return bench_step.benchmark(
        TINY,
        CPU,
        warmup=0,
        reps=1,
        models_=["rope_2D_axial_2x2", "commuting_mixed_rope_2D_4x4"],
        precisions=("fp32", "bf16"),
        dropouts=(0.0, 0.1),
        recipes=("reference", "fast", "fast-sdpa"),
        log=lambda line: None,
    )


def rows_of(payload, **match):
    return [r for r in payload["rows"] if all(r[k] == v for k, v in match.items())]


def test_every_case_has_a_row_with_its_rates_and_ratios(payload):
    rows = payload["rows"]
    # 3 models (the 4x4 basis folded too) x 2 precisions x (2 recipes at 0 + 3 at 0.1), and timm's 2 x 2
    assert len(rows) == 3 * 2 * 5 + 4
    peak = payload["peak_gflops_per_second"]
    assert peak["fp32"] > 0 and peak["bf16"] > 0
    measured = {(m["dtype"], (m["m"], m["k"], m["n"])) for m in payload["matmuls"]}
    assert measured == {(dtype, mkn) for dtype in ("fp32", "bf16") for mkn in bench_step.matmul_shapes(TINY)}
    for r in rows:
        assert r["images_per_second"] == pytest.approx(TINY.batch / r["seconds_per_step"])
        assert r["gflops_per_second"] == pytest.approx(r["flops_per_image"] * TINY.batch / r["seconds_per_step"] / 1e9)
        assert r["fraction_of_fp32_peak"] == pytest.approx(r["gflops_per_second"] / peak["fp32"])
        bf16 = r["fraction_of_bf16_peak"]
        assert (bf16 is None) == (r["precision"] == "fp32")
        timm = rows_of(payload, model=TIMM, precision=r["precision"], dropout=r["dropout"])[0]
        assert r["speedup_over_timm"] == pytest.approx(timm["seconds_per_step"] / r["seconds_per_step"])
    assert all(r["speedup_over_timm"] == 1.0 for r in rows_of(payload, model=TIMM))
    assert "| commuting_mixed_rope_2D_4x4/fold | bf16 | 0.1 | fast-sdpa |" in bench_step.table(rows)


def test_each_recipe_runs_its_attention(payload):
    def label(**match):
        return {bench_step.attention_label(r["attention"]) for r in rows_of(payload, **match)}

    assert label(recipe="reference", dropout=0.0) == {"SDPA flash"}
    assert label(recipe="reference", dropout=0.1) == {"SDPA math"}  # torch's attention dropout: no fused kernel
    assert label(recipe="fast") == {"written out"}  # attention="auto" on the CPU
    assert label(recipe="fast-sdpa") == {"SDPA flash"}  # no attention dropout: the fused kernel again


def test_flops_do_not_depend_on_the_attention_path(payload):
    # The fused kernel's FLOPs are counted (FlopCounterMode does not know it), without its backward's
    # recomputation: every path counts the model's products alike.
    for model in ("rope_2D_axial_2x2", "commuting_mixed_rope_2D_4x4", "commuting_mixed_rope_2D_4x4/fold"):
        counts = {r["flops_per_image"] for r in rows_of(payload, model=model)}
        assert len(counts) == 1, (model, counts)
    axial = rows_of(payload, model="rope_2D_axial_2x2")[0]["flops_per_image"]
    unfolded = rows_of(payload, model="commuting_mixed_rope_2D_4x4")[0]["flops_per_image"]
    folded = rows_of(payload, model="commuting_mixed_rope_2D_4x4/fold")[0]["flops_per_image"]
    assert axial < folded < unfolded  # the basis costs a product per weight folded, per token unfolded


def test_the_counted_flops_are_the_products_of_the_model():
    flops = {}
    for recipe in ("reference", "fast"):  # SDPA's fused kernel, and attention written out
        torch.manual_seed(0)
        model, _, loss = step_cases.make_step(Case("rope_2D_axial_2x2", "fp32", 0.0, recipe), TINY, CPU)
        flops[recipe] = step_cases.step_flops(loss)
    assert flops["reference"] == flops["fast"]
    cfg, n, b = model.cfg, TINY.tokens, TINY.batch
    # forward q k^T and (weights) v, and twice as many products backward
    attention = cfg.depth * 3 * 2 * (2 * b * cfg.heads * n * n * cfg.dim_head)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    rows = {id(m): b if m is model.head else b * n for m in linears}  # the head sees the pooled tokens
    linear = sum(3 * 2 * rows[id(m)] * m.in_features * m.out_features for m in linears)  # forward, 2 backward
    conv = 2 * 2 * b * n * cfg.dim * cfg.in_chans * cfg.patch_size**2  # forward and the weight's gradient
    angles = cfg.depth * 2 * n * 2 * (cfg.dim_head // 2)  # pos (N, 2) times the shared frequencies, forward
    assert flops["reference"] == attention + linear + conv + angles


def test_cases_cross_models_precisions_dropouts_and_recipes():
    todo = step_cases.cases(["rope_2D_axial_2x2"], ("fp32",), (0.0, 0.1), tuple(step_cases.RECIPES))
    got = {(c.model, c.dropout, c.recipe) for c in todo}
    assert got == {
        ("rope_2D_axial_2x2", 0.0, "reference"),
        ("rope_2D_axial_2x2", 0.0, "fast"),
        ("rope_2D_axial_2x2", 0.0, "compiled"),  # compiled at dropout 0 only, by default
        ("rope_2D_axial_2x2", 0.1, "reference"),
        ("rope_2D_axial_2x2", 0.1, "fast"),
        ("rope_2D_axial_2x2", 0.1, "fast-sdpa"),  # at dropout 0 it is the reference's computation
        (TIMM, 0.0, "reference"),
        (TIMM, 0.0, "compiled"),
        (TIMM, 0.1, "reference"),
    }
    more = step_cases.cases(
        ["rope_2D_axial_2x2"], ("fp32",), (0.1,), ("compiled",), timm=False, compile_dropouts=(0.1,)
    )
    assert more == [Case("rope_2D_axial_2x2", "fp32", 0.1, "compiled")]
    assert step_cases.foldable("commuting_mixed_rope_2D_4x4") and not step_cases.foldable("mixed_rope_2D_2x2")


def test_recipes_set_the_vit_options():
    ref = step_cases.vit_config("mixed_rope_2D_2x2", TINY, 0.1, "reference")
    assert (ref.dropout_impl, ref.attention, ref.attn_dropout, ref.pool) == ("torch", "sdpa", None, "mean")
    fast = step_cases.vit_config("commuting_mixed_rope_2D_4x4/fold", TINY, 0.1, "fast-sdpa")
    assert (fast.dropout_impl, fast.attn_p, fast.fold_basis) == ("fast", 0.0, True)
    assert fast.enc_options == {"design": "mixed", "basis": "stiefel"}  # the zoo's learned basis
    liere = step_cases.vit_config("liere_rope_2D_4x4", TINY, 0.0, "fast")
    assert liere.pos_scale == 1 / (TINY.image_size // TINY.patch_size - 1)  # LieRE's unit positions
    timm = step_cases.timm_model(TINY, 0.1)
    assert timm.num_prefix_tokens == 0 and timm.embed_dim == TINY.dim and len(timm.blocks) == TINY.depth


def test_the_peak_is_the_fastest_matmul_shape_of_each_dtype():
    shapes = bench_step.matmul_shapes(step_cases.SHAPES["fashion"])
    assert (128 * 49, 96, 288) in shapes and (96, 128 * 49, 288) in shapes and (128 * 49, 192, 96) in shapes
    flops_a, _ = bench_step.matmul_case((4, 8, 2), torch.float32, CPU)
    assert flops_a == 2 * 4 * 8 * 2 * 4  # four calls per sample
    matmuls = {
        ("fp32", (1, 1, 1)): (10.0e9, None),
        ("fp32", (2, 2, 2)): (30.0e9, None),
        ("bf16", (1, 1, 1)): (8e9, None),
    }
    seconds = {("fp32", (1, 1, 1)): 1.0, ("fp32", (2, 2, 2)): 1.0, ("bf16", (1, 1, 1)): 0.1}
    rates, peak = bench_step.peaks(matmuls, seconds)
    assert peak == {"fp32": 30.0, "bf16": 80.0} and len(rates) == 3


def test_bench_step_command_writes_its_result(tmp_path, capsys):
    argv = ["step", "--shape", "tiny", "--reps", "1", "--warmup", "0", "--models", "rope_2D_axial_2x2",
            "--precisions", "fp32", "--dropouts", "0", "--recipes", "reference", "fast",
            "--out", str(tmp_path)]  # fmt: skip
    assert bench.main(argv) == 0
    saved = json.loads((tmp_path / "cpu-step-tiny.json").read_text())
    assert saved["command"] == "rope-blocks bench " + " ".join(argv)
    assert {"commit", "device", "date", "torch"} <= set(saved) and saved["threads"] == 1
    assert saved["shape"]["batch"] == TINY.batch and saved["reps"] == 1
    assert [(r["model"], r["recipe"]) for r in saved["rows"]] == [
        ("rope_2D_axial_2x2", "reference"),
        ("rope_2D_axial_2x2", "fast"),
        (TIMM, "reference"),
    ]
    out = capsys.readouterr().out
    assert "matmul peak at the step's shapes" in out and "wrote" in out


def test_bench_step_defaults():
    args = bench.build_parser().parse_args(["step"])
    assert (args.shape, args.batch, args.reps, args.warmup, args.threads) == ("fashion", None, 5, 1, 1)
    assert args.models == list(step_cases.MODELS) and args.recipes == list(step_cases.RECIPES)
    assert (args.dropouts, args.compile_dropouts, args.no_fold, args.no_timm) == ([0.0, 0.1], [0.0], False, False)
    assert bench.build_parser().parse_args(["step", "--compile_dropouts"]).compile_dropouts == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["step", "--models", "rope_2D_axial"], "--models: 'rope_2D_axial' is not a variant name"),
        (["step", "--dropouts", "1.5"], "probabilities in [0, 1]"),
        (["step", "--recipes", "turbo"], "invalid choice"),
        (["step", "--reps", "0"], "--batch and --reps must be >= 1"),
    ],
)
def test_bench_step_errors_name_the_fix(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err

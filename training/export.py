"""A trained relative run as plain 2x2 RoPE (RoPE-Mixed) with folded projections (`rope-blocks export`).

Every relative planar design (axial, mixed, givens, commuting, and LieRE with 2x2 blocks) is 2x2
RoPE in a basis B that folds into W_q and W_k (theory T5, rope_blocks.export). The command writes
the exported checkpoint (loadable by training.checkpoint.load_run, like any run's), and beside it a JSON
with the frequency tables and the largest logit difference on the test split; it prints the test
accuracy of both models and exits 1 if they differ. With ``to="timm"`` the export is timm's own
RoPE-Mixed ViT instead (training.export_timm): a state dict, and beside it a JSON with the
``timm.create_model`` name and arguments, for a model that needs timm alone.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from records import provenance
from rope_blocks.export import fold_qkv, rope_form, table_rope

from . import checkpoint, data
from .vit import ViT


def export_vit(model: ViT) -> ViT:
    """An equivalent ViT with 2x2 RoPE: each layer's q and k rows absorb the basis, and the
    encodings become RoPE-Mixed (per head) with the frequency tables of ``rope_form``.

    Raises ValueError for a model without rotary encodings or with a non-relative one.
    """
    if not len(model.encodings):
        raise ValueError(
            f"the model's family is {model.cfg.family!r}: it has no rotary encoding to export "
            "(it uses an absolute position embedding)."
        )
    forms = [rope_form(enc) for enc in model.encodings]  # one per layer, or one shared by all
    cfg = dataclasses.replace(model.cfg, family="mixed", block_size=2, enc_options={"per_head": True}, fold_basis=False)
    exported = ViT(cfg).to(next(model.parameters()).device)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("encodings.")}
    missing, unexpected = exported.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("encodings.") for k in missing), (missing, unexpected)
    for i, block in enumerate(exported.blocks):
        form = forms[0 if cfg.share_encoding else i]
        with torch.no_grad():
            block.attn.qkv.weight.copy_(fold_qkv(block.attn.qkv.weight, form.basis))
    for enc, form in zip(exported.encodings, forms):
        enc.load_state_dict(table_rope(form, cfg.n_axes).state_dict())
    return exported.train(model.training)


@dataclass
class Report:
    """What ``export_checkpoint`` measured: the test accuracy before and after, and the logit difference."""

    family: str
    block_size: int
    dataset: str
    test_images: int
    before: float
    after: float
    difference: float
    path: Path


TARGETS = ("rope-blocks", "timm")


def export_checkpoint(
    source: Path,
    out: Path,
    *,
    to: str = "rope-blocks",
    dataset: str | None = None,
    data_path: str | None = None,
    overwrite: bool = False,
    command: str = "",
) -> Report:
    """Export the run checkpoint ``source`` to ``out`` (and its JSON report beside it, suffix .json).

    ``to="rope-blocks"``: this project's ViT with 2x2 RoPE-Mixed; ``to="timm"``: timm's RoPE-Mixed ViT,
    ``out`` its state dict. Raises ValueError, before anything is written, for a checkpoint that is not a
    relative ViT run, a model the target cannot hold, a data set that does not fit it, or outputs that
    exist without ``overwrite``.
    """
    if to not in TARGETS:
        raise ValueError(f"to={to!r} is not one of {', '.join(map(repr, TARGETS))}.")
    report_path = out.with_suffix(".json")
    _check_outputs(source, out, report_path, overwrite)
    state, model = checkpoint.load_run(source)
    eva = _timm_export(model) if to == "timm" else None
    exported = export_vit(model) if eva is None else eva.create()
    run = state.get("config", {})
    dataset = dataset or run.get("dataset", "digits")
    splits = data.load(dataset, data_path or run.get("data_path", "data"), image_size=run.get("input_size") or 32,
                       seed=run.get("seed", 0))  # fmt: skip
    if (splits.in_chans, splits.num_classes) != (model.cfg.in_chans, model.cfg.num_classes):
        raise ValueError(
            f"the model takes {model.cfg.in_chans}-channel images of {model.cfg.num_classes} "
            f"classes, but {dataset} has {splits.in_chans} channels and {splits.num_classes} "
            "classes; pass the --dataset the run was trained on."
        )
    before, after, difference = compare(model, exported, splits, run.get("input_size") or splits.image_size)
    report = Report(model.cfg.family, model.cfg.block_size, dataset, len(splits.test), before, after, difference,
                    report_path)  # fmt: skip
    fields = _report_fields(report, source, out, command)
    if eva is not None:
        eva.save(out, overwrite=overwrite, extra=fields)
        return report
    kept = {key: state[key] for key in ("config", "epoch", "history", "best") if key in state}
    model_state = {"model_config": dataclasses.asdict(exported.cfg), "model": exported.state_dict()}
    checkpoint.save(kept | model_state | {"exported_from": str(source)}, out)
    provenance.write_json({
        **fields,
        "frequencies": "per encoding (one per layer, or one shared), [head][pair (2i, 2i+1)][axis]; the angle "
                       "of a pair is sum over axes of position * frequency",
        "tables": [enc.freqs().squeeze(2).tolist() for enc in exported.encodings],
    }, report.path)  # fmt: skip
    return report


def _timm_export(model: ViT):
    try:  # timm is an optional extra: only this target needs it
        from .export_timm import vit_to_eva
    except ImportError as e:
        raise ValueError(f"--to timm needs timm: {e}") from None
    return vit_to_eva(model)


def _report_fields(report: Report, source: Path, out: Path, command: str) -> dict:
    """What every export's JSON starts with: provenance, both accuracies and the largest logit difference."""
    device = provenance.device_description(threads=torch.get_num_threads())
    return {
        **provenance.header(shlex.split(command), device),
        "source": str(source), "exported": str(out), "family": report.family, "dataset": report.dataset,
        "test_images": report.test_images, "test_acc_before": report.before, "test_acc_after": report.after,
        "max_logit_difference": report.difference,
    }  # fmt: skip


def _check_outputs(source: Path, out: Path, report_path: Path, overwrite: bool) -> None:
    if report_path == out:
        raise ValueError(f"--out {out} would also be the name of the JSON report; name the checkpoint *.pt.")
    if out.resolve() == source.resolve():
        raise ValueError(f"--out {out} is the checkpoint being exported; write the export to another file.")
    existing = [str(p) for p in (out, report_path) if p.exists()]
    if existing and not overwrite:
        raise ValueError(f"{' and '.join(existing)} already exist(s); pass --overwrite to replace, or another --out.")


EXPORT_IMAGES = 1000  # test images on which the zoo checks each relative run's export


@torch.no_grad()
def export_error(model: ViT, splits: data.Splits, max_images: int = EXPORT_IMAGES) -> float:
    """max |logit difference| / max |logit| between ``model`` (a relative design) and its 2x2 RoPE export, on the
    first ``max_images`` test images: 0 up to rounding when theory T5 holds for the trained weights."""
    model = model.eval()
    exported = export_vit(model).eval()
    n = min(max_images, len(splits.test))
    worst = scale = 0.0
    for images, _ in DataLoader(Subset(splits.test, range(n)), batch_size=256):
        x = splits.prepare(images, None)
        logits, logits_exported = model(x), exported(x)
        worst = max(worst, (logits - logits_exported).abs().max().item())
        scale = max(scale, logits.abs().max().item())
    return worst / max(scale, 1e-30)  # all-zero logits: the difference itself


@torch.no_grad()
def compare(model: ViT, exported: torch.nn.Module, splits: data.Splits, size: int) -> tuple[float, float, float]:
    """(test accuracy of model, of exported, max |logit difference|) on the test split."""
    correct, worst = torch.zeros(2, dtype=torch.long), 0.0
    for images, labels in DataLoader(splits.test, batch_size=256):
        x = splits.prepare(images, size)
        logits = torch.stack((model(x), exported(x)))
        correct += (logits.argmax(-1) == labels).sum(-1)
        worst = max(worst, (logits[0] - logits[1]).abs().max().item())
    before, after = (correct.double() / len(splits.test)).tolist()  # as the trainer's evaluate divides
    return before, after, worst

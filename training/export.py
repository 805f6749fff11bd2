"""`rope-blocks export`: a trained relative run as plain 2x2 RoPE (RoPE-Mixed) with folded projections.

    rope-blocks export runs/digits/<run_id>/best.pt --out exported.pt

Every relative planar design (axial, mixed, givens, commuting, and LieRE with 2x2 blocks) is 2x2
RoPE in a basis B that folds into W_q and W_k (theory T5, rope_blocks.export). The command writes
the exported checkpoint (loadable by training.checkpoint.load_run, like any run's), and beside it a JSON
with the frequency tables and the largest logit difference on the test split; it prints the test
accuracy of both models and exits 1 if they differ.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from rope_blocks.export import fold_qkv, rope_form, table_rope

from . import checkpoint, data
from .main import git_commit
from .vit import ViT

PROG = "rope-blocks export"


def export_vit(model: ViT) -> ViT:
    """An equivalent ViT with 2x2 RoPE: each layer's q and k rows absorb the basis, and the
    encodings become RoPE-Mixed (per head) with the frequency tables of ``rope_form``.

    Raises ValueError for a model without rotary encodings or with a non-relative one.
    """
    if not len(model.encodings):
        raise ValueError(f"the model's family is {model.cfg.family!r}: it has no rotary encoding to export "
                         "(it uses an absolute position embedding).")
    forms = [rope_form(enc) for enc in model.encodings]  # one per layer, or one shared by all
    cfg = dataclasses.replace(model.cfg, family="mixed", block_size=2, enc_options={"per_head": True},
                              fold_basis=False)
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


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", type=Path, help="a run's checkpoint, e.g. runs/digits/<run_id>/best.pt")
    p.add_argument("--out", type=Path, required=True,
                   help="the exported checkpoint; its report goes beside it with the suffix .json")
    p.add_argument("--dataset", default=None, choices=data.DATASETS,
                   help="test split to compare the models on (default: the run's own data set)")
    p.add_argument("--data_path", default=None, help="folder holding the data set files (default: the run's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        report_path = args.out.with_suffix(".json")
        _check_outputs(args, report_path)
        state, model = checkpoint.load_run(args.checkpoint)
        exported = export_vit(model)
        run = state.get("config", {})
        dataset = args.dataset or run.get("dataset", "digits")
        splits = data.load(dataset, args.data_path or run.get("data_path", "data"),
                           image_size=run.get("input_size") or 32, seed=run.get("seed", 0))
        if (splits.in_chans, splits.num_classes) != (model.cfg.in_chans, model.cfg.num_classes):
            raise ValueError(f"the model takes {model.cfg.in_chans}-channel images of {model.cfg.num_classes} "
                             f"classes, but {dataset} has {splits.in_chans} channels and {splits.num_classes} "
                             "classes; pass the --dataset the run was trained on.")
        before, after, difference = compare(model, exported, splits, run.get("input_size") or splits.image_size)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    checkpoint.save({key: state[key] for key in ("config", "epoch", "history", "best") if key in state}
                    | {"model_config": dataclasses.asdict(exported.cfg), "model": exported.state_dict(),
                       "exported_from": str(args.checkpoint)}, args.out)
    checkpoint.write_json({
        "command": shlex.join(["rope-blocks", "export", *argv]), "commit": git_commit(),
        "device": f"CPU ({os.cpu_count()} cores, {platform.machine()})",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": str(args.checkpoint), "exported": str(args.out), "family": model.cfg.family,
        "dataset": dataset, "test_images": len(splits.test), "test_acc_before": before, "test_acc_after": after,
        "max_logit_difference": difference,
        "frequencies": "per encoding (one per layer, or one shared), [head][pair (2i, 2i+1)][axis]; the angle "
                       "of a pair is sum over axes of position * frequency",
        "tables": [enc.freqs().squeeze(2).tolist() for enc in exported.encodings],
    }, report_path)
    print(f"{args.checkpoint} ({model.cfg.family}, block_size {model.cfg.block_size}) -> {args.out} (2x2 RoPE-Mixed)")
    print(f"test accuracy on {dataset} ({len(splits.test)} images): before {before:.4f}, after {after:.4f}; "
          f"max logit difference {difference:.2e}; report {report_path}")
    if before != after:
        print(f"{PROG}: the exported model's test accuracy differs from the original's; it is not equivalent.",
              file=sys.stderr)
        return 1
    return 0


def _check_outputs(args, report_path: Path) -> None:
    if report_path == args.out:
        raise ValueError(f"--out {args.out} would also be the name of the JSON report; name the checkpoint *.pt.")
    if args.out.resolve() == args.checkpoint.resolve():
        raise ValueError(f"--out {args.out} is the checkpoint being exported; write the export to another file.")
    existing = [str(p) for p in (args.out, report_path) if p.exists()]
    if existing and not args.overwrite:
        raise ValueError(f"{' and '.join(existing)} already exist(s); pass --overwrite to replace, or another --out.")


@torch.no_grad()
def compare(model: ViT, exported: ViT, splits: data.Splits, size: int) -> tuple[float, float, float]:
    """(test accuracy of model, of exported, max |logit difference|) on the test split."""
    correct, worst = torch.zeros(2, dtype=torch.long), 0.0
    for images, labels in DataLoader(splits.test, batch_size=256):
        x = splits.prepare(images, size)
        logits = torch.stack((model(x), exported(x)))
        correct += (logits.argmax(-1) == labels).sum(-1)
        worst = max(worst, (logits[0] - logits[1]).abs().max().item())
    before, after = (correct.double() / len(splits.test)).tolist()  # as the trainer's evaluate divides
    return before, after, worst


if __name__ == "__main__":
    sys.exit(main())

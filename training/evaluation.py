"""Tests outside the training distribution: test images moved, resized or regenerated, scored on a trained model."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from . import data, trainer
from .vit import POSITIONS, ViT


@dataclass(frozen=True)
class ExtraTest:
    """uint8 ``images`` (N, C, H, W) with their ``labels``, resized to ``size`` (None: as they are) and seen
    by the model with the position convention ``positions`` (training.vit.ViT.forward)."""

    images: torch.Tensor
    labels: torch.Tensor
    size: int | None = None
    positions: str = "grid"

    def __post_init__(self):
        if self.positions not in POSITIONS:
            raise ValueError(f"positions={self.positions!r} is not one of {', '.join(POSITIONS)}.")


def accuracy(model: ViT, test: ExtraTest, splits: data.Splits, amp: bool = False, batch_size: int = 256) -> float:
    """The model's accuracy on ``test``, normalised as the training data (``splits.prepare``), in bf16 autocast
    when ``amp`` (as a run trained with it was validated)."""
    loader = DataLoader(data.ImageTensors(test.images, test.labels), batch_size=batch_size)

    def prepare(images):
        return splits.prepare(images, test.size)

    return trainer.evaluate(model, loader, prepare, torch.device("cpu"), amp, positions=test.positions)[1]


@torch.no_grad()
def pair_error(model: ViT, a: ExtraTest, b: ExtraTest, splits: data.Splits) -> float:
    """max |logits on a - logits on b| over every image and class, over max |logits on a|: how far the model is
    from giving two tests of the same layouts (moved, or cropped, image i of a with image i of b) the same
    outputs; 0 up to rounding where the theory says so.

    In float64 (on a copy of the model): the claim is about the function the trained weights define, and
    float32's rounding of the larger rotation angles (about 1e-6 of the logits) would blur it."""
    model = copy.deepcopy(model).double().eval()
    outputs = []
    for test in (a, b):
        batches = []
        for images, _ in DataLoader(data.ImageTensors(test.images, test.labels), batch_size=256):
            batches.append(model(splits.prepare(images, test.size).double(), positions=test.positions))
        outputs.append(torch.cat(batches))
    scale = max(outputs[0].abs().max().item(), 1e-300)  # all-zero logits: the difference itself
    return (outputs[0] - outputs[1]).abs().max().item() / scale

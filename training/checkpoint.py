"""Checkpoints: written atomically (records.provenance.atomic_write), read with errors that name the file.

A run killed at any moment leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from records.provenance import atomic_write

from .config import saved_setting
from .vit import ViT, ViTConfig

FORMAT = "rope-blocks-checkpoint/1"


def save(state: dict, path: Path) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def load(path: Path, fallback: Path | None = None) -> dict:
    """Read a checkpoint; on failure the error says what is wrong and which older file is kept."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
    except Exception as e:
        raise ValueError(
            f"checkpoint {path} cannot be used: it is corrupt or not a rope-blocks checkpoint "
            f"({type(e).__name__}: {e}). It was left in place.{_fallback_hint(fallback, path)}"
        ) from None
    return state


def _fallback_hint(fallback: Path | None, broken: Path) -> str:
    if fallback is None or not fallback.is_file() or fallback == broken:
        return " Start over with --overwrite."
    return (
        f" The older checkpoint {fallback} is kept: continue from it with --resume {fallback}, "
        "or start over with --overwrite."
    )


# Settings that may change between a run and its resumption: where things are, how they are
# shown, and how the processes were started (the world size itself must stay).
RESUMABLE_CHANGES = {
    "resume",
    "overwrite",
    "out",
    "data_path",
    "num_workers",
    "compile",
    "progress",
    "command",
    "distributed",
    "cuda",
}


def check_same_run(saved: dict, current: dict, path: Path) -> None:
    diffs = [
        f"{k}: checkpoint {saved_setting(saved, k)!r}, now {current.get(k)!r}"
        for k in sorted(set(saved) | set(current))
        if k not in RESUMABLE_CHANGES and saved_setting(saved, k) != current.get(k)
    ]
    if diffs:
        raise ValueError(
            f"checkpoint {path} belongs to a different run ({'; '.join(diffs)}). It was left in place. "
            "Resume with the same settings, or start a new run with another --run-id (or --overwrite)."
        )


def load_run(path: Path) -> tuple[dict, ViT]:
    """(checkpoint dict, its ViT in eval mode) with errors that say what the file is not."""
    if not path.is_file():
        raise ValueError(f"no such checkpoint file: {path}; pass a run's runs/<dataset>/<run_id>/best.pt.")
    try:
        state = load(path)
    except ValueError:
        raise ValueError(
            f"{path} is corrupt or not a rope-blocks checkpoint; pass the best.pt (or last.pt) "
            "that `rope-blocks train` wrote."
        ) from None
    try:
        model = ViT(ViTConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(
            f"{path} is not the checkpoint of a ViT run ({type(e).__name__}: {e}); pass the best.pt "
            "that `rope-blocks train` wrote."
        ) from None
    return state, model.eval()

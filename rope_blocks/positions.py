"""Token positions of an image's patch grid."""

from __future__ import annotations

import torch


def grid_positions(rows: int, cols: int, n_axes: int = 2, scale: float = 1.0, device=None) -> torch.Tensor:
    """(rows * cols, n_axes) float32 positions of a patch grid in raster order, times ``scale``.

    n_axes=2 gives the integer (row, col) coordinates, n_axes=1 the raster index row * cols + col.
    """
    if n_axes not in (1, 2):
        raise ValueError(f"a patch grid has n_axes 1 (raster index) or 2 (row, col), got n_axes={n_axes!r}.")
    r, c = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij")
    pos = (r * cols + c).reshape(-1, 1) if n_axes == 1 else torch.stack((r, c), dim=-1).reshape(-1, 2)
    return pos.float() * scale

"""Rotations from QR (rope_blocks.frequencies.orthogonal_from_qr in torch, theory.numeric.orthogonal_from_qr in
numpy): orthogonal with det +1 for every input, a singular one included.

The old formula q * sign(diag(r)) zeroed the column of q where r's diagonal is 0, which it is for a
matrix with a zero column: random_rotation could then return a matrix that is no rotation at all.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rope_blocks.frequencies import orthogonal_from_qr as torch_orthogonal_from_qr
from rope_blocks.frequencies import random_rotation
from theory.numeric import orthogonal_from_qr as numpy_orthogonal_from_qr
from theory.numeric import random_orthogonal


def singular(k: int, zero_columns: tuple[int, ...], seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((k, k))
    a[:, list(zero_columns)] = 0.0
    return a


def assert_rotation(q: np.ndarray) -> None:
    eye = np.eye(q.shape[-1])
    assert np.abs(np.swapaxes(q, -1, -2) @ q - eye).max() < 1e-12
    assert np.allclose(np.linalg.det(q), 1.0, atol=1e-12)


CASES = [(4, (1,)), (4, (0,)), (3, (2,)), (5, (1, 3)), (6, (0, 5)), (2, (0,))]


@pytest.mark.parametrize("k, zeros", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_gives_a_rotation_where_the_old_formula_zeroed_a_column(k, zeros, seed):
    a = singular(k, zeros, seed)
    q, r = np.linalg.qr(a)
    diag = np.diag(r)
    assert (diag == 0).any()  # r has a zero on its diagonal: the input that broke the old formula
    old = q * np.sign(diag)
    assert (np.abs(old) == 0).all(axis=0).any()  # a whole column of zeros
    assert np.abs(old.T @ old - np.eye(k)).max() > 0.5  # so not orthogonal
    assert_rotation(numpy_orthogonal_from_qr(a))


@pytest.mark.parametrize("k, zeros", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_gives_a_rotation_where_the_old_formula_zeroed_a_column(k, zeros, seed):
    a = torch.from_numpy(singular(k, zeros, seed))
    q, r = torch.linalg.qr(a)
    diag = torch.diagonal(r)
    assert (diag == 0).any()
    old = q * torch.sign(diag)
    assert (old == 0).all(dim=0).any()
    assert (old.T @ old - torch.eye(k, dtype=a.dtype)).abs().max() > 0.5
    out = torch_orthogonal_from_qr(a)
    assert out.dtype == torch.float64 and out.shape == (k, k)
    assert_rotation(out.numpy())


def test_torch_batches_mixing_singular_and_regular_matrices():
    a = torch.from_numpy(
        np.stack(
            [
                singular(4, (1,), 0),
                singular(4, (), 1),
                singular(4, (0, 2), 2),
                -np.eye(4),
                np.diag([1.0, -1.0, 1.0, 1.0]),
            ]
        )
    )
    out = torch_orthogonal_from_qr(a.reshape(5, 1, 4, 4)).reshape(5, 4, 4)
    assert_rotation(out.numpy())
    # A rotation is its own Q with r's diagonal positive, so it comes back as it is.
    rotation = random_rotation(4, 3)
    assert (torch_orthogonal_from_qr(rotation) - rotation).abs().max() < 1e-12


def test_the_two_implementations_agree():
    for seed in range(5):
        a = singular(5, (seed % 5,), seed) if seed % 2 else np.random.default_rng(seed).standard_normal((5, 5))
        np_q = numpy_orthogonal_from_qr(a)
        torch_q = torch_orthogonal_from_qr(torch.from_numpy(a)).numpy()
        assert_rotation(np_q)
        assert np.abs(np_q - torch_q).max() < 1e-12


def test_random_rotations_are_rotations():
    torch.manual_seed(0)
    assert_rotation(random_rotation(3, 7).numpy())
    assert_rotation(random_rotation(2).numpy())
    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        assert_rotation(random_orthogonal(k, rng))

"""Every bad input gets a ValueError that names the problem and the fix."""

from __future__ import annotations

import pytest
import torch

import rope_blocks as rb

D, H = 24, 2


def enc2d(family="commuting", **options):
    return rb.build(family, head_dim=D, num_heads=H, n_axes=2, **options)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"family": "comuting"}, r"unknown family 'comuting'\. Did you mean 'commuting'\?"),
        ({"family": "LieRE"}, r"unknown family 'LieRE'\. Did you mean 'liere'\?"),
        ({"family": "rope"}, r"unknown family 'rope'.*The families are: none, axial"),
        ({"family": "axial", "basis": "cayley"}, r"option 'basis' is not valid for family 'axial'.*Its options: base"),
        ({"family": "commuting", "desing": "mixed"}, r"option 'desing'.*Did you mean 'design'\?"),
        ({"family": "weighted", "plane": (0, 1)}, r"option 'plane' is not valid for family 'weighted'"),
        ({"family": "commuting", "block_size": 1}, r"block_size must be >= 2, got 1"),
        ({"family": "liere", "block_size": 0}, r"block_size must be >= 2"),
        ({"family": "commuting", "block_size": 25}, r"block_size=25 is larger than head_dim=24.*between 2 and 24"),
        ({"family": "givens", "block_size": 2.5}, r"block_size must be an integer"),
        ({"family": "axial", "block_size": 4}, r"'axial' family uses 2x2 blocks only.*use family='commuting'"),
        ({"family": "mixed", "block_size": 3}, r"'mixed' family uses 2x2 blocks only"),
        ({"family": "none", "block_size": 4}, r"'none' family has no rotation blocks"),
        (
            {"family": "commuting", "block_size": 12, "n_axes": 3},
            r"axial design gives each of the n_axes=3 axes.*"
            r"head_dim >= 36.*design='mixed'",
        ),
        ({"family": "weighted", "block_size": 12, "n_axes": 3}, r"each of the n_axes=3 axes needs its own block"),
        ({"family": "commuting", "design": "diagonal"}, r"design='diagonal' is not one of 'axial', 'mixed'"),
        ({"family": "commuting", "basis": "householder"}, r"basis='householder' is not one of 'fixed', 'stiefel'"),
        ({"family": "commuting", "freqs": "random"}, r"freqs='random' is not one of 'fixed', 'learned'"),
        ({"family": "commuting", "basis_init": "zeros"}, r"basis_init='zeros' is not one of"),
        ({"family": "givens", "block_size": 3, "plane": (1, 3)}, r"plane=\(1, 3\) is not a plane of a 3x3 block"),
        ({"family": "givens", "block_size": 3, "plane": (2, 1)}, r"0 <= m < n < 3"),
        ({"family": "axial", "base": -10}, r"base must be a positive finite number"),
        ({"family": "liere", "init_scale": 0.0}, r"init_scale must be a positive finite number"),
        ({"family": "liere", "per_head": "yes"}, r"per_head must be True or False, got 'yes'"),
        ({"family": "mixed", "per_head": 1}, r"per_head must be True or False"),
        ({"family": "axial", "n_axes": 0}, r"n_axes must be >= 1"),
        ({"family": "axial", "head_dim": 1}, r"block_size=2 is larger than head_dim=1"),
        ({"family": "axial", "num_heads": "4"}, r"num_heads must be an integer"),
    ],
)
def test_bad_build_arguments(kwargs, pattern):
    args = {"head_dim": D, "num_heads": H, "n_axes": 2, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        rb.build(args.pop("family"), **args)


def good_inputs(n_tokens=9):
    q = torch.randn(2, H, n_tokens, D)
    pos = torch.cartesian_prod(torch.arange(3.0), torch.arange(3.0))
    return q, q.clone(), pos


@pytest.mark.parametrize("family", rb.families())
@pytest.mark.parametrize(
    "mutate,pattern",
    [
        (lambda q, k, p: (q, k, p[:, :1]), r"pos has 1 coordinates per token.*n_axes=2.*pass \(N, 2\)"),
        (lambda q, k, p: (q, k, p[:4]), r"pos has 4 positions but q and k have N=9 tokens"),
        (lambda q, k, p: (q, k, p.flatten()), r"pos must have shape \(N, n_axes\) = \(N, 2\); got shape \(18,\)"),
        (lambda q, k, p: (q, k, p.expand(2, 9, 2)), r"not one per example"),
        (lambda q, k, p: (q, k, p.clone().index_fill_(0, torch.tensor([3]), float("nan"))), r"NaN or infinite"),
        (lambda q, k, p: (q, k, p.clone().index_fill_(0, torch.tensor([0]), float("inf"))), r"NaN or infinite"),
        (lambda q, k, p: (q, k, [[0.0, 1.0]] * 9), r"pos must be a torch.Tensor"),
        (lambda q, k, p: (q, k[:, :, :5], p), r"q and k must have the same shape and dtype"),
        (lambda q, k, p: (q, k.double(), p), r"q and k must have the same shape and dtype"),
        (lambda q, k, p: (q[0], k[0], p), r"must have shape \(B, H, N, D\).*Reshape"),
        (lambda q, k, p: (q[:, :1], k[:, :1], p), r"q has 1 heads of width 24.*num_heads=2"),
        (lambda q, k, p: (q[..., :20], k[..., :20], p), r"heads of width 20.*head_dim=24"),
        (lambda q, k, p: (q.long(), k.long(), p), r"q must be a floating-point tensor"),
        (lambda q, k, p: (q.numpy(), k, p), r"q must be a torch.Tensor"),
    ],
)
def test_bad_forward_inputs(family, mutate, pattern):
    enc = rb.build(family, head_dim=D, num_heads=H, n_axes=2)
    with pytest.raises(ValueError, match=pattern):
        enc(*mutate(*good_inputs()))


def test_rotation_checks_positions_too():
    enc = enc2d()
    with pytest.raises(ValueError, match=r"n_axes=2"):
        enc.rotation(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        enc.rotation(torch.tensor([[float("nan"), 0.0]]))


def test_generators_of_a_family_without_them():
    with pytest.raises(ValueError, match=r"'weighted' family is not defined by generators.*use rotation\(pos\)"):
        rb.build("weighted", head_dim=D, num_heads=H, block_size=3).generators()


def test_relative_error_rejects_mismatched_positions():
    with pytest.raises(ValueError, match=r"two tensors of the same shape"):
        rb.relative_error(enc2d(), positions=(torch.zeros(4, 2), torch.zeros(3, 2)))

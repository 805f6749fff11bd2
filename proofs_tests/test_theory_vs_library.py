"""theory/ and rope_blocks/ agree: the generators the library builds satisfy the theory's conditions
(commuting exactly where the library says relative, normal form Q diag(...) Q^T), its seed designs
are the theory's references, and T7/T9's numbers match rope_blocks.relative_error."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

torch = pytest.importorskip("torch")
rb = pytest.importorskip("rope_blocks")

from theory.liere import OFFSETS, grid_pairs, t9_liere  # noqa: E402
from theory.numeric import commutation_defect, expm_rotation, relative_error  # noqa: E402
from theory.seed_blocks import (  # noqa: E402
    SEED_HEADS,
    WEIGHTED_POSITIONS,
    seed_givens_generators,
    seed_weighted_rotation,
    t7_weighted_blocks,
)
from theory.structure import simultaneous_normal_form  # noqa: E402

COMMUTING = 1e-12  # float64 generators that commute do so to rounding
# rope_blocks keeps fixed frequencies as float32 buffers, so its float64 references carry theta rounded
# to float32 (relative 6e-8); angles theta * p with |p| <= 16 then differ by up to about 1e-6.
FLOAT32_THETA = 1e-7

GENERATOR_CONFIGS = [
    ("axial", dict(block_size=2)),
    ("mixed", dict(block_size=2)),
    *[("givens", dict(block_size=k)) for k in (2, 3, 4, 5, 6)],
    *[
        ("commuting", dict(block_size=k, design=design, basis=basis))
        for k in (2, 3, 4, 5, 6, 8)
        for design in ("axial", "mixed")
        for basis in ("fixed", "cayley", "stiefel", "matrix_exp")
    ],
    *[("liere", dict(block_size=k)) for k in (2, 3, 4, 6, 8)],
]


def _generators(enc) -> np.ndarray:
    """(H, n_axes, D, D) float64 generators (learned ones carry autograd history)."""
    return enc.generators(dtype=torch.float64).detach().numpy()


def _build(family, n_axes=2, head_dim=48, num_heads=2, **options):
    torch.manual_seed(0)
    return rb.build(family, head_dim=head_dim, num_heads=num_heads, n_axes=n_axes, **options)


@pytest.mark.parametrize("family,options", GENERATOR_CONFIGS, ids=lambda v: str(v))
@pytest.mark.parametrize("n_axes", [1, 2, 3])
def test_generators_commute_exactly_where_the_library_says_relative(family, options, n_axes):
    enc = _build(family, n_axes=n_axes, **options)
    generators = _generators(enc)
    assert generators.shape == (2, n_axes, 48, 48)
    assert np.abs(generators + np.swapaxes(generators, -1, -2)).max() < 1e-14
    commute = commutation_defect(generators) <= COMMUTING
    assert commute == enc.relative, f"theory: commute={commute}, library: relative={enc.relative}"


@pytest.mark.parametrize("family,options", [c for c in GENERATOR_CONFIGS if c[0] != "liere"], ids=lambda v: str(v))
def test_relative_families_have_the_normal_form(family, options):
    enc = _build(family, n_axes=2, **options)
    for head in _generators(enc):
        Q, blocks, residual = simultaneous_normal_form(head)
        assert residual < 1e-10
        assert np.abs(Q.T @ Q - np.eye(48)).max() < 1e-12


@pytest.mark.parametrize("k", [3, 4, 6])
def test_relative_error_definitions_agree(k):
    enc = _build("liere", block_size=k, head_dim=2 * k)
    generators = _generators(enc)
    rng = np.random.default_rng(k)
    xs, ys = rng.uniform(-1, 1, size=(2, 8, 2))
    theirs = rb.relative_error(enc, positions=(torch.from_numpy(xs), torch.from_numpy(ys)))
    ours = relative_error(expm_rotation(generators), xs, ys)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("k", sorted(SEED_HEADS))
def test_seed_designs_are_the_theory_references(k):
    d = SEED_HEADS[k]
    givens = _build("givens", head_dim=d, num_heads=1, block_size=k)
    assert np.abs(_generators(givens)[0] - seed_givens_generators(d, 2, k)).max() < FLOAT32_THETA
    weighted = _build("weighted", head_dim=d, num_heads=1, block_size=k)
    pos = np.random.default_rng(k).uniform(-16, 16, size=(5, 2))
    library = weighted.rotation(torch.from_numpy(pos)).detach().numpy()[0]
    reference = seed_weighted_rotation(d, 2, k)(pos)
    assert np.abs(library - reference).max() < 16 * FLOAT32_THETA
    assert weighted.relative == (k == 2)


def test_t7_numbers_match_the_library():
    table = t7_weighted_blocks().table
    xs = torch.tensor([[float(x)] for x, _ in WEIGHTED_POSITIONS], dtype=torch.float64)
    ys = torch.tensor([[float(y)] for _, y in WEIGHTED_POSITIONS], dtype=torch.float64)
    for row in table:
        k = row["k"]
        enc = _build("weighted", head_dim=k, num_heads=1, n_axes=1, block_size=k)
        assert rb.relative_error(enc, positions=(xs, ys)) == pytest.approx(row["relative_error"], rel=1e-9, abs=1e-13)


def test_t9_numbers_match_the_library():
    ks = (3, 4)
    table = t9_liere(ks=ks, inits=8, pairs=16).table
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1, user_api="blas"):  # tiny expm calls; see theory.certificate.theorem
        _compare_liere_errors(ks, table, rng)


def _compare_liere_errors(ks, table, rng):
    for k in ks:
        for offset in OFFSETS:
            xs, ys = grid_pairs(offset, 16, rng)
            errors = []
            for seed in range(8):
                torch.manual_seed(seed)
                enc = rb.build("liere", head_dim=k, num_heads=1, n_axes=2, block_size=k)
                theirs = rb.relative_error(enc, positions=(torch.from_numpy(xs), torch.from_numpy(ys)))
                ours = relative_error(expm_rotation(_generators(enc)), xs, ys)
                assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
                errors.append(theirs)
            row = next(r for r in table if r["k"] == k and r["offset_cells"] == offset)
            # same initialisation law, independent draws: the means agree to sampling noise
            assert np.mean(errors) == pytest.approx(row["mean_error"], rel=0.6)


def test_liere_init_scale_shrinks_the_error_as_bch_predicts():
    """Scaling the generators by s scales the commutator term by s^2 (T9's leading term)."""
    rng = np.random.default_rng(1)
    xs, ys = grid_pairs(1, 16, rng)
    errors = []
    for scale in (1e-2, 2e-2):
        torch.manual_seed(0)
        enc = rb.build("liere", head_dim=4, num_heads=1, n_axes=2, block_size=4, init_scale=scale)
        errors.append(rb.relative_error(enc, positions=(torch.from_numpy(xs), torch.from_numpy(ys))))
    assert errors[1] / errors[0] == pytest.approx(4.0, rel=0.05)

"""theory/: every certificate is proved and every proof fails on a false premise. The expensive proofs run
once per module; `rope-blocks prove` is in test_prove_command.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import prove
from theory.absorption import t5_absorption
from theory.certificate import Certificate, span
from theory.closed_forms import t8_closed_forms
from theory.counting import DESIGNS, t10_counting
from theory.lie import Family, Words, exp_defect, normal_order, plane, skew
from theory.liere import t9_liere
from theory.numeric import commutation_defect, expm_rotation, random_skew, relative_error
from theory.relative import t1_sufficiency, t2_necessity
from theory.seed_blocks import seed_givens_block, t6_givens_blocks, t7_weighted_blocks, weighted_block
from theory.separability import DIAGONAL_PAIR, t11_separability
from theory.structure import random_commuting_family, simultaneous_normal_form, t3_structure, t4_normal_form
from theory.trig import TrigPolynomials

REPO = Path(__file__).resolve().parent.parent
IDS = [f"T{i}" for i in range(1, 12)]


@pytest.fixture(scope="module")
def certificates() -> dict[str, Certificate]:
    return {proof.theorem_id: proof() for proof in prove.THEOREMS}


@pytest.mark.parametrize("theorem_id", IDS)
def test_every_certificate_is_proved(certificates, theorem_id):
    c = certificates[theorem_id]
    assert c.verdict, f"{theorem_id} failed: {c.failed_checks()}"
    assert c.id == theorem_id and c.statement and c.method and c.covers
    assert c.checks and all(check.ok for check in c.checks)
    assert math.isfinite(c.residual) and c.seconds >= 0
    json.dumps(c.as_dict())  # the paper and results/theorems.json read it as JSON


def test_certificates_are_frozen(certificates):
    with pytest.raises(AttributeError):
        certificates["T1"].verdict = False


def test_tables_for_the_paper(certificates):
    t9 = certificates["T9"].table
    assert {row["k"] for row in t9} == {2, 3, 4, 5, 6, 8}
    assert all(row["max_error"] < 1e-10 for row in t9 if row["k"] == 2)
    t10 = certificates["T10"].table
    assert {row["design"] for row in t10} == {d.name for d in DESIGNS}
    commuting = [row for row in t10 if row["design"] == "commuting_axial"]
    assert [row["independent_planes"] for row in commuting] == [k // 2 for k in range(2, 9)]


# ---------------------------------------------------------------- each proof can fail


def test_t1_fails_on_a_non_commuting_pair():
    c = t1_sufficiency([Family((), (plane(3, 0, 1), plane(3, 1, 2)))], order=3)
    assert not c.verdict
    assert {"k=3: R(x)^T R(y) - R(y - x) = 0", "k=3: scipy expm relative error"} <= set(c.failed_checks())


def test_t1_proves_a_commuting_pair_given_the_same_way():
    theta = sp.Symbol("theta", real=True)
    assert t1_sufficiency([Family((), (plane(4, 0, 1), theta * plane(4, 2, 3)))], order=3).verdict


def test_t2_fails_on_a_commuting_pair():
    A = skew(3, "a")
    c = t2_necessity([(A, 2 * A), (plane(4, 0, 1), plane(4, 2, 3))])
    assert not c.verdict
    assert c.failed_checks() == [
        "k=3: [A, B] != 0, so the relative property fails",
        "k=4: [A, B] != 0, so the relative property fails",
    ]


def test_t3_fails_on_a_non_parallel_3x3_pair():
    c = t3_structure(pair=([1, 0, 0], [0, 1, 0]), ks=[3])
    assert not c.verdict
    assert "the given 3x3 pair commutes" in c.failed_checks()
    assert t3_structure(pair=([1, 2, 3], [-2, -4, -6]), ks=[3]).verdict


def test_t4_fails_on_non_commuting_families():
    rng = np.random.default_rng(0)
    families = [np.stack([random_skew(k, rng), random_skew(k, rng)]) for k in (3, 4, 6)]
    c = t4_normal_form(families, cayley_ks=())
    assert not c.verdict


def test_t5_fails_on_a_non_orthogonal_basis():
    c = t5_absorption(Q=sp.Matrix([[1, 1, 0], [0, 1, 0], [0, 0, 1]]))
    assert not c.verdict
    assert t5_absorption(Q=sp.Matrix([[0, -1, 0], [1, 0, 0], [0, 0, 1]])).verdict


def test_t6_fails_on_the_weighted_block():
    assert not t6_givens_blocks(block=weighted_block, ks=[3]).verdict


def test_t7_fails_on_the_givens_block():
    assert not t7_weighted_blocks(block=seed_givens_block, ks=[3]).verdict


def test_t8_fails_on_a_wrong_closed_form():
    def wrong(W, theta, lib=sp):
        return lib.eye(W.shape[0]) + (lib.sin(theta) / theta) * W + ((1 + lib.cos(theta)) / theta**2) * (W @ W)

    c = t8_closed_forms(rodrigues_form=wrong, samples=10)
    assert not c.verdict
    assert "two-plane formula solves the exponential ODE" not in c.failed_checks()


def test_t9_fails_on_a_wrong_leading_coefficient():
    c = t9_liere(coefficient=sp.Rational(1, 2), ks=(2,), inits=1, pairs=2)
    assert not c.verdict
    assert "degree 2 term = c x y [A, B]" in c.failed_checks()


def test_t10_fails_on_a_wrong_claim():
    import dataclasses

    liere = next(d for d in DESIGNS if d.name == "liere")
    wrong = dataclasses.replace(liere, relative=lambda k: True, ks=(3,))
    assert not t10_counting(designs=(wrong,)).verdict


# ---------------------------------------------------------------- numeric references


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 8), n=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_commuting_families_are_relative_and_normalisable(k, n, seed):
    rng = np.random.default_rng(seed)
    family = random_commuting_family(k, n, rng)
    assert commutation_defect(family) < 1e-12
    Q, blocks, residual = simultaneous_normal_form(family, rng)
    assert residual < 1e-10
    assert blocks.shape == (n, k // 2, 2, 2)
    xs, ys = rng.uniform(-5, 5, size=(2, 4, n))
    assert relative_error(expm_rotation(family), xs, ys) < 1e-11


@settings(max_examples=25, deadline=None)
@given(k=st.integers(3, 6), seed=st.integers(0, 2**32 - 1))
def test_non_commuting_pairs_are_not_relative(k, seed):
    rng = np.random.default_rng(seed)
    pair = np.stack([random_skew(k, rng), random_skew(k, rng)])
    assert commutation_defect(pair) > 1e-3
    assert simultaneous_normal_form(pair, rng)[2] > 1e-6
    xs, ys = rng.uniform(0.5, 1.5, size=(2, 4, 2))
    assert relative_error(expm_rotation(pair), xs, ys) > 1e-6


def test_trig_normal_form_is_a_sound_zero_test():
    a, b = sp.symbols("a b", real=True)
    true_identities = sp.Matrix(
        [
            [
                sp.sin(a + b) - sp.sin(a) * sp.cos(b) - sp.cos(a) * sp.sin(b),
                sp.cos(a) ** 4 - sp.sin(a) ** 4 - sp.cos(2 * a),
            ]
        ]
    )
    false_identities = sp.Matrix([[sp.sin(2 * a) - 2 * sp.sin(a), sp.cos(a) ** 2 + sp.sin(b) ** 2 - 1]])
    ring = TrigPolynomials(true_identities, false_identities)
    zero, nonzero = (ring.entries(M) for M in ring.matrices)
    assert not any(zero) and all(nonzero)


def test_span_formats_ranges():
    assert span(range(2, 7)) == "2..6" and span([2, 3, 4, 5, 6, 8]) == "2, 3, 4, 5, 6, 8" and span([3, 4]) == "3, 4"


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_closed_forms_match_expm_on_random_inputs(seed):
    import scipy.linalg

    from theory.closed_forms import rodrigues, so4_angles, two_plane

    rng = np.random.default_rng(seed)
    W, A = random_skew(3, rng, -3, 3), random_skew(4, rng, -3, 3)
    assert np.abs(rodrigues(W, np.linalg.norm(W) / np.sqrt(2), np) - scipy.linalg.expm(W)).max() < 1e-12
    t1, t2 = so4_angles(A)
    if abs(t1 - t2) > 1e-3:  # the two-plane formula needs distinct plane angles
        assert np.abs(two_plane(A, t1, t2, np) - scipy.linalg.expm(A)).max() < 1e-10


def test_free_algebra_series():
    x, y = sp.symbols("x y")
    parts = exp_defect(Words({(0,): x}), Words({(1,): y}), 2)
    assert normal_order(parts[2], set()) == {(0, 1): -x * y / 2, (1, 0): x * y / 2}
    assert normal_order(parts[2], {frozenset((0, 1))}) == {}


# ---------------------------------------------------------------- the package


def test_theory_never_imports_torch():
    code = "import sys, theory.prove; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_committed_results_are_a_full_proved_run():
    path = REPO / "results" / "theorems.json"
    if not path.exists():
        pytest.skip("results/theorems.json not written yet (run `rope-blocks prove`)")
    record = json.loads(path.read_text())
    assert [t["id"] for t in record["theorems"]] == IDS
    assert all(t["verdict"] for t in record["theorems"])


def test_t11_gives_the_diagonal_pair_a_floor_of_log_2():
    table = {row["target"]: row for row in t11_separability().table}
    assert table[str(list(DIAGONAL_PAIR))]["exact"] == "log(2)"
    assert table[str(list(DIAGONAL_PAIR))]["mutual_information"] == pytest.approx(math.log(2))


def test_t11_fails_when_an_axial_plane_turns_with_both_axes():
    t1, t2 = sp.symbols("theta1 theta2", positive=True)
    c = t11_separability(axial_planes=((t1, 0), (t1, t2)))
    assert not c.verdict and c.failed_checks() == ["axial planes: d^2 f / d d_row d d_col = 0"]

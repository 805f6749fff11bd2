"""What a proof hands back: a Certificate, read by the tests, by `rope-blocks prove` and by the paper."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

# (installed with scikit-learn, a dependency of the project)
from threadpoolctl import threadpool_limits

# Numeric cross-checks compare against scipy.linalg.expm in float64; 1e-12 is the bar for
# closed forms, and the looser bar leaves room for products of a few rotations and for finite differences.
EXPM_TOL = 1e-12
NUMERIC_TOL = 1e-10


@dataclass(frozen=True)
class Check:
    """One computed fact inside a proof.

    residual: for numeric checks the measured maximum absolute deviation; for exact (symbolic) checks
    0.0 when the residual is identically zero, otherwise the number of entries that did not vanish.
    """

    name: str
    ok: bool
    residual: float


def exact(name: str, residual_entries) -> Check:
    """An exact check: passes iff every entry of the (already normalised) residual is zero."""
    nonzero = sum(1 for entry in residual_entries if entry != 0)
    return Check(name, nonzero == 0, float(nonzero))


def numeric(name: str, residual: float, tol: float = NUMERIC_TOL) -> Check:
    residual = float(residual)
    return Check(name, bool(residual <= tol), residual)


def holds(name: str, condition: bool) -> Check:
    """A check whose outcome is a computed yes/no (a count, a rank, a sign), not a residual."""
    return Check(name, bool(condition), 0.0 if condition else 1.0)


def span(values) -> str:
    """ "2..6" for consecutive integers, else "2, 3, 5, 8": the ranges a certificate covers."""
    values = sorted(set(values))
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class Evidence:
    """What a theorem function computes; @theorem turns it into a Certificate."""

    covers: str
    checks: tuple[Check, ...]
    table: tuple[dict, ...] | None = None


@dataclass(frozen=True)
class Certificate:
    id: str
    statement: str
    method: str
    covers: str
    verdict: bool
    residual: float
    seconds: float
    checks: tuple[Check, ...] = ()
    table: tuple[dict, ...] | None = None

    def failed_checks(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def as_dict(self) -> dict:
        out = asdict(self)
        out["checks"] = [asdict(check) for check in self.checks]
        out["table"] = None if self.table is None else [dict(row) for row in self.table]
        return out


def theorem(id: str, statement: str, method: str) -> Callable:
    """Decorate `f(**premise) -> Evidence` so that it returns a timed Certificate.

    The verdict is the conjunction of the computed checks and the residual their maximum, so no
    theorem can report a verdict its computation did not produce. Proofs run with one BLAS thread:
    their matrices are tiny, and on a busy machine a threaded BLAS waits milliseconds per call.
    """

    def wrap(f: Callable[..., Evidence]) -> Callable[..., Certificate]:
        @functools.wraps(f)
        def run(*args, **kwargs) -> Certificate:
            start = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):
                evidence = f(*args, **kwargs)
            checks = tuple(evidence.checks)
            return Certificate(
                id=id,
                statement=statement,
                method=method,
                covers=evidence.covers,
                verdict=bool(checks) and all(check.ok for check in checks),
                residual=max((check.residual for check in checks), default=0.0),
                seconds=round(time.perf_counter() - start, 3),
                checks=checks,
                table=evidence.table,
            )

        run.theorem_id = id
        run.statement = statement
        return run

    return wrap

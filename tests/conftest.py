"""Shared fixtures: the real tables in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

# under pytest-xdist each worker gets one core's worth of threads (OpenMP, BLAS) by default, and OpenMP
# threads that sleep rather than spin while they wait: set before any library loads its runtime (and
# inherited by the CLI subprocesses), as code that asks for 2 threads in two workers oversubscribes 2 cores
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the BLAS numpy loaded before this file

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

collect_ignore = ["data"]  # fixtures and the scripts that made them (they run against older code)

SHARED_DATA = Path(os.environ.get("OCFEH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real tables (../shared/data); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set OCFEH_SHARED_DATA to point at it)")
    return SHARED_DATA

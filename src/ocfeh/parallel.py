"""Work spread over a Dask cluster (a local one, or a scheduler's address), and progress shown per item: the
sample, predict and cluster stages share it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .exceptions import InputError

__all__ = ["SCHEDULER_TIMEOUT_S", "dask_client", "progress_bar", "run_on_dask"]

SCHEDULER_TIMEOUT_S = 5
"""Seconds to wait for a Dask scheduler to answer before giving up."""


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str, total: int, completed: int = 0) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over ``total`` items (rows, partitions); yields ``advance(n)`` (a no-op if disabled)."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total, completed=completed)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def dask_client(scheduler: str | None, n_threads: int = 2) -> Iterator[Any]:
    """A Dask client of ``scheduler`` (None: in-process, no client), closed on exit.

    ``"local"`` starts a cluster in this process that runs ``cores // n_threads`` tasks at once (each task
    runs ``n_threads`` OpenMP threads). An unreachable scheduler (after ``SCHEDULER_TIMEOUT_S``) or a
    malformed address is an :class:`~ocfeh.exceptions.InputError` naming the address.
    """
    if scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the 'scale' extra
        raise InputError("scheduler= needs Dask: pip install 'ocfeh[scale]'") from None
    cluster = None
    if scheduler == "local":
        # each chunk runs n_threads OpenMP threads: more tasks than cores // n_threads oversubscribe the cores
        tasks = max(1, (os.cpu_count() or 1) // n_threads)
        cluster = LocalCluster(n_workers=1, threads_per_worker=tasks, processes=False, dashboard_address=None)
        client = Client(cluster)
    else:
        why = None
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, ValueError) as exc:  # OSError: timed out / refused; ValueError: a malformed address
            why = str(exc)
        if why is not None:  # raised outside the except block: no chained Dask traceback
            raise InputError(f"cannot connect to the Dask scheduler {scheduler} ({why}); check the address, start "
                             "the scheduler, or drop --scheduler (scheduler=None) to run in-process")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_on_dask(client: Any, fn: Callable, calls: Sequence[tuple], keys: Sequence[str],
                on_done: Callable[[Any], Any]) -> None:
    """``fn(*args)`` for each of ``calls`` as Dask tasks named ``keys``; ``on_done(result)`` in the driver as
    each finishes (in the order they finish)."""
    from distributed import as_completed

    futures = [client.submit(fn, *args, key=key, pure=False) for args, key in zip(calls, keys)]
    for fut in as_completed(futures):
        on_done(fut.result())

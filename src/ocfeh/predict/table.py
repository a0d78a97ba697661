"""Prediction of tables of any size: chunk by chunk, in-process or on Dask, into Parquet with a manifest, so
memory is bounded by the chunk size and an interrupted run resumes where it stopped."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..exceptions import InputError, Interrupted, OcfehWarning
from ..locks import LOCK_NAME, held
from ..provenance import model_provenance, provenance, stable_hash, write_json
from ..sample.zeropoints import TILE_COLUMN, apply_tile_offsets, read_tile_offsets
from .checks import check_columns, check_unique, mock_model_warning, reason_counts, row_reasons
from .chunks import (
    Chunk,
    column_names,
    count_rows,
    expand_inputs,
    merge_parts,
    part_name,
    plan_chunks,
    read_chunk,
    table_format,
    write_part,
)
from .model_files import LEGACY_PREDICTOR, calibration_files
from .gaps import MIN_BANDS
from .inputs import check_magnitudes, check_number_columns, is_number_column
from .outputs import output_fingerprint, output_format, write_astropy
from .predictor import ID_COLUMNS, Predictor, load_predictor, predict_frame
from .shift import SHIFT_MODES, shift_check
from ..parallel import dask_client, progress_bar, run_on_dask

__all__ = ["PredictConfig", "PredictResult", "predict_table"]

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"


class PredictConfig(BaseModel):
    """The ``[predict]`` section."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = Field(200_000, ge=1, description="Stars per chunk (bounds memory: ~1 kB per star).")
    n_draws: int = Field(0, ge=0, description="Monte Carlo draws per star (0 = conformal intervals only).")
    scheduler: str | None = Field(
        None, description="Dask scheduler address (scheme://host:port, e.g. tcp://host:8786, or host:port), 'local', "
        "or none (in-process).")
    n_threads: int = Field(2, ge=1, description="Tree threads per prediction chunk; a local Dask cluster runs "
                           "cores // n_threads chunks at once.")
    float32: bool = Field(True, description="Compute features in float32 (half the memory, same trees).")
    shift: Literal["check", "weighted", "off"] = Field(
        "check", description="Covariate-shift check of the catalogue against the validation stars (expected coverage "
        "in predictions.parquet.shift.json); weighted: also rescale the intervals by weighted conformal calibration.")
    min_bands: int = Field(
        MIN_BANDS, ge=0, description="Stars that miss bands, a distance or A_0 are predicted by the gap model "
        "when they keep at least this many of the configured bands (0: only complete stars are predicted).")

    @field_validator("scheduler")
    @classmethod
    def _check_scheduler(cls, v):
        # Dask takes tcp://, tls://, ucx://, inproc://, ws(s):// and host:port (= tcp); a bare word is a typo
        if v is None or v == "local" or re.fullmatch(r"[A-Za-z][\w+.-]*://\S+|[^\s:/]+:\d+", v):
            return v
        raise ValueError(f"must be 'local', a Dask scheduler address such as tcp://host:8786 (tls://, "
                         f"ucx://, inproc://; host:port means tcp://host:port) or unset for in-process; got {v!r}")


@dataclass
class PredictResult:
    """What :func:`predict_table` did (``n_predicted = -1``: the output was already complete)."""

    output: Path
    n_rows: int
    n_predicted: int
    n_rejected: int
    n_chunks: int
    n_resumed: int
    seconds: float
    reasons: dict = field(default_factory=dict)
    """The commonest reasons of the rows without prediction, with their counts."""

    def shortfall(self, min_predicted: float) -> str:
        """The one-line message of a run that predicted fewer than ``min_predicted`` of its rows."""
        why = "; ".join(f"{k}: {v}" for k, v in self.reasons.items()) or "see the reason column"
        return (f"{self.output}: only {self.n_predicted} of {self.n_rows} stars got a prediction (fewer than "
                f"{min_predicted:.0%}); main reasons: {why}")

    def __repr__(self) -> str:
        return (f"PredictResult({str(self.output)!r}: {self.n_rows} rows, {self.n_predicted} predicted, "
                f"{self.n_rejected} rejected, {self.n_chunks} chunks ({self.n_resumed} resumed), "
                f"{self.seconds:.1f} s)")


def predict_table(
    model_dir: str | Path,
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    chunk_size: int = 200_000,
    resume: bool = True,
    overwrite: bool = False,
    n_draws: int = 0,
    seed: int = 0,
    scheduler: str | None = None,
    id_columns: Sequence[str] = ID_COLUMNS,
    progress: bool = True,
    zero_points: str | Path | None = None,
    n_threads: int | None = None,
    float32: bool | None = None,
    min_bands: int = MIN_BANDS,
    shift: str = "check",
    keep_columns: Sequence[str] | None = None,
    skip_bad_lines: bool = False,
    min_predicted: float = 0.1,
    _fail_after: int | None = None,
) -> PredictResult:
    """Predict Teff, log g, [Fe/H] with intervals and OOD flags for tables of any size.

    Parameters
    ----------
    model_dir : str or Path
        A model directory (a run's ``model/``).
    inputs : path or sequence of paths
        Canonical tables (Parquet, CSV, FITS) or directories of Parquet files (partitioned Parquet,
        HATS catalogues); rows are read in the order given.
    output : str or Path
        A ``.parquet`` file (parts are written to ``<output>.parts/`` and merged at the end) or a
        directory (kept as partitioned Parquet: ``part-NNNNNN.parquet`` + ``_manifest.json``).
    chunk_size : int, default=200000
        Stars per chunk; peak memory grows linearly with it (about 1 kB per star).
    resume : bool, default=True
        Continue an interrupted run into the same output (its manifest must match: same model,
        inputs, chunk size and options); chunks already written are skipped.
    overwrite : bool, default=False
        Start afresh, deleting a previous output. ``resume`` and ``overwrite`` exclude each other.
    n_draws : int, default=0
        Monte Carlo draws per star (needs calibration with draws).
    seed : int, default=0
        Seed of the Monte Carlo draws (chunk ``i`` uses ``[seed, i]``: results do not depend on
        resuming or on the scheduler).
    scheduler : str, optional
        None: in-process. ``"local"``: a local Dask cluster. Otherwise a Dask scheduler address
        (``tcp://host:8786``); the workers must see the model directory and the output path. A
        scheduler that does not answer within ``SCHEDULER_TIMEOUT_S`` (5 s) is an InputError, raised
        before any output is touched.
    id_columns : sequence of str
        Input columns copied to the output when present.
    progress : bool, default=True
        Show a progress bar.
    zero_points : str or Path, optional
        A run's ``zero_points.csv``: its per-tile J-PLUS offsets are removed from the inputs (which then
        need ``jplus_tile_id``), as they were from the model's training sample.
    n_threads : int, optional
        Tree back-end threads per chunk (default: the model's, ``min(2, cores)``). A local Dask cluster
        runs ``cores // n_threads`` chunks at once, so the threads never outnumber the cores.
    float32 : bool, optional
        Compute features in float32 (default: the model's, True) or float64.
    min_bands : int, default=6
        Stars that miss inputs get a gap-model prediction when they keep this many bands (0: never); see
        :func:`~ocfeh.predict.predict_frame`.
    shift : {"check", "weighted", "off"}, default="check"
        Compare a sample of the inputs with the model's validation stars (:func:`~ocfeh.predict.shift.shift_check`)
        and write the expected coverage to ``<output>.shift.json`` (a directory output: ``shift.json`` in it);
        ``weighted`` also widens (or narrows) the main model's intervals by the weighted conformal factors.
    keep_columns : sequence of str, optional
        Input columns copied to the output row by row, besides ``id_columns``; default: the inputs' ID-like
        columns (``*_id``, ``*_name``, ``designation``, ...). A kept column named like an output column
        gets the suffix ``_input``.
    skip_bad_lines : bool, default=False
        CSV lines with another number of fields than the header are refused (naming their line numbers);
        True skips them and logs the count.
    min_predicted : float, default=0.1
        Warn (OcfehWarning, with the main reasons and their counts) when fewer than this share of the rows
        get a prediction.

    Output formats: ``.parquet`` (written a part at a time); ``.fits``, ``.vot``/``.xml``, ``.ecsv``, ``.csv``
    (through astropy, whole in memory, units in the metadata); no suffix: a directory of Parquet parts. One
    process writes an output at a time (``<output>.lock``).

    Returns
    -------
    PredictResult

    Raises
    ------
    InputError
        Among others: a column the model needs is absent from an input (checked in every file before
        any chunk is predicted; NaN values only make rows without prediction), or the scheduler is
        unreachable.
    """
    if resume and overwrite:
        raise InputError("predict_table: pass either resume=True or overwrite=True, not both")
    if chunk_size < 1:
        raise InputError(f"The 'chunk_size' parameter of predict_table must be >= 1. Got {chunk_size} instead.")
    if n_threads is not None and n_threads < 1:
        raise InputError(f"The 'n_threads' parameter of predict_table must be >= 1. Got {n_threads} instead.")
    if shift not in SHIFT_MODES:
        raise InputError(f"predict_table: shift must be one of {', '.join(SHIFT_MODES)}; got {shift!r}")
    compute = {k: v for k, v in (("n_threads", n_threads), ("float32", float32)) if v is not None}
    t0 = time.perf_counter()
    model_dir = Path(model_dir)
    pred = _checked_predictor(model_dir, n_draws)
    files = expand_inputs([inputs] if isinstance(inputs, (str, Path)) else inputs)
    output = _checked_output(Path(output), files)
    single = output_format(output) != ""
    parts_dir = output.with_name(output.name + ".parts") if single else output
    lock = output.with_name(output.name + ".lock") if single else output / LOCK_NAME
    fresh = not parts_dir.exists()  # before the lock, which makes a directory output's folder
    with held(lock, f"the output {output}"), _staging(output, files) as stage_dir, \
            _cleaned(parts_dir, fresh, lock if single else None):
        cols = _input_columns(pred, n_draws, id_columns)
        chunks, info = plan_chunks(files, chunk_size, stage_dir, [c for c in cols if is_number_column(c)],
                                   skip_bad_lines)
        if not chunks:
            raise InputError(f"no stars to predict: the input ({', '.join(str(f) for f in files[:3])}) has no rows")
        keep = _kept_columns(chunks, id_columns, keep_columns)
        mocks = []
        for path, fmt, source in dict.fromkeys((c.path, c.fmt, c.origin) for c in chunks):  # before any is written
            names = column_names(Path(path), fmt)
            check_unique(names, source)
            check_columns(names, pred.required_columns, source)
            check_number_columns(Path(path), fmt, [c for c in cols if c in names and is_number_column(c)])
            mocks.append(mock_model_warning(pred.meta.get("training_set"), names, source))
        if any(mocks):  # said once
            log.warning("%s", next(m for m in mocks if m))
        offsets = _tile_offsets(zero_points, chunks)
        sample = _input_sample(pred, chunks, offsets, seed)
        check_magnitudes(sample, pred.bands, chunks[0].origin)
        if pred.phot is not None:  # one band off for the whole table: said once, before the work
            for message in pred.phot.systematic(sample[row_reasons(sample, pred.required_columns) == ""], seed=seed):
                log.warning("%s: %s", chunks[0].origin if len(files) == 1 else "the inputs", message)
        # connect first: an unreachable scheduler fails before an output is touched
        with dask_client(scheduler, n_threads or pred.n_threads) as client:
            checked = _shift_check(pred, sample, seed) if shift != "off" else None
            if checked is not None and shift == "weighted":
                compute["interval_scale"] = checked["interval_scale"]
            key = {
                "inputs": info, "chunk_size": chunk_size, "n_draws": n_draws, "seed": seed,
                "id_columns": list(keep), "model": _model_stamp(model_dir), "min_bands": min_bands,
                **({"interval_scale": compute["interval_scale"]} if "interval_scale" in compute else {}),
                **({"zero_points": [str(zero_points), stable_hash(offsets.to_dict(orient="list"), 16)]}
                   if offsets is not None else {}),
                # float32 changes the last digits, threads do not; the model's own precision keeps the old fingerprint
                **({"float32": float32} if float32 is not None and float32 != pred.float32 else {}),
            }
            if list(keep) == list(ID_COLUMNS):  # the fingerprint of outputs written before keep_columns existed
                key["id_columns"] = list(id_columns)
            fingerprint = stable_hash(key, 32)
            meta = {"fingerprint": fingerprint, **provenance(key, seed, model=model_provenance(model_dir))}
            if single and output.exists() and not parts_dir.exists():
                if _complete(output, fingerprint, overwrite, resume):
                    n = count_rows(output) if output.suffix == ".parquet" else sum(i["n_rows"] for i in info)
                    log.info("%s is complete (%d rows); nothing to do", output, n)
                    return PredictResult(output, n, -1, -1, len(chunks), len(chunks), time.perf_counter() - t0)
            done = _resumed_chunks(parts_dir, fingerprint, overwrite, resume)
            parts_dir.mkdir(parents=True, exist_ok=True)
            n_resumed = len(done)
            if n_resumed:
                log.info("resuming: %d of %d chunks already written", n_resumed, len(chunks))

            def record(index: int, n_rows: int, n_rej: int, reasons: dict) -> None:
                done[index] = [n_rows, n_rej, reasons]
                write_json(parts_dir / MANIFEST, {"fingerprint": fingerprint, "n_chunks": len(chunks),
                                                  "done": {str(k): v for k, v in sorted(done.items())},
                                                  "provenance": meta})

            task = (str(model_dir), str(parts_dir), n_draws, seed, tuple(keep), meta, offsets, compute, min_bands)
            todo = [c for c in chunks if c.index not in done]
            total_rows = sum(c.stop - c.start for c in chunks)
            try:
                with progress_bar(progress, "predict", total_rows,
                                  sum(c.stop - c.start for c in chunks if c.index in done)) as advance:
                    if client is None:
                        for c in todo:
                            record(*_run_chunk(task[0], c, *task[1:], fail_after=_fail_after))
                            advance(c.stop - c.start)
                    else:
                        sizes = {c.index: c.stop - c.start for c in todo}

                        def finished(res: tuple) -> None:
                            record(*res)
                            advance(sizes[res[0]])

                        run_on_dask(client, _run_chunk, [(task[0], c, *task[1:]) for c in todo],
                                    [f"ocfeh-predict-{c.index}-{fingerprint}" for c in todo], finished)
            except KeyboardInterrupt:
                raise Interrupted(f"interrupted after {len(done)} of {len(chunks)} chunks; rerun the same command to "
                                  f"resume into {output}") from None
        n_rows = sum(v[0] for v in done.values())
        n_rej = sum(v[1] for v in done.values())
        if n_rows != total_rows:
            raise InputError(f"wrote {n_rows} rows but the inputs hold {total_rows}; rerun to resume")
        if single:
            _finish(parts_dir, len(chunks), output, meta)
        if checked is not None:
            write_json(output.with_name(output.name + ".shift.json") if single else output / "shift.json",
                       {**checked, "mode": shift, "provenance": meta})
    reasons = _top_reasons(v[2] if len(v) > 2 else {} for v in done.values())
    if n_rej:
        log.info("%d of %d stars not predicted (see the 'reason' column): %s", n_rej, n_rows,
                 "; ".join(f"{k} ({v})" for k, v in reasons.items()))
    result = PredictResult(output, n_rows, n_rows - n_rej, n_rej, len(chunks), n_resumed, time.perf_counter() - t0,
                           reasons)
    if n_rows and result.n_predicted < min_predicted * n_rows:
        warnings.warn(result.shortfall(min_predicted), OcfehWarning, stacklevel=2)
    return result


def _input_sample(pred: Predictor, chunks: Sequence[Chunk], offsets, seed: int, n_rows: int = 5000) -> pd.DataFrame:
    """Up to ``n_rows`` input rows (complete ones first) from a few chunks spread over the inputs, each
    subsampled as it is read (memory stays that of one chunk): what the magnitude, photometric and
    covariate-shift checks look at."""
    picks = [chunks[i] for i in np.unique(np.linspace(0, len(chunks) - 1, min(8, len(chunks))).astype(int))]
    cols = list(dict.fromkeys(pred.required_columns + pred.extra_columns + [f"mag_err_{b}" for b in pred.bands]))
    parts = []
    for c in picks:
        t = read_chunk(c, cols + [TILE_COLUMN] if offsets is not None else cols)
        t = apply_tile_offsets(t, offsets) if offsets is not None else t
        quota = n_rows // len(picks) + 1
        whole = row_reasons(t, pred.required_columns) == ""  # complete rows first, then the others
        rank = np.random.default_rng(seed).random(len(t)) + np.where(whole, 0.0, 1.0)
        parts.append(t.iloc[np.argsort(rank)[:quota]])
    sample = pd.concat(parts, ignore_index=True)
    return sample.sample(min(n_rows, len(sample)), random_state=seed)


def _shift_check(pred: Predictor, sample: pd.DataFrame, seed: int) -> dict | None:
    """The covariate-shift check of the complete rows of the input sample against the model's validation
    stars; None when the model saved none (trained before the gap model) or too few rows."""
    if pred.gaps is None:
        log.info("shift check skipped: the model holds no validation stars (retrain to get model/gaps/)")
        return None
    ref = pred.gaps.reference
    cal = ref[(ref["split"] == "val") & (row_reasons(ref, pred.required_columns) == "")]
    sample = sample[row_reasons(sample, pred.required_columns) == ""]
    if len(sample) < 100 or len(cal) < 100:
        log.info("shift check skipped: %d complete input rows and %d validation stars (100 of each needed)",
                 len(sample), len(cal))
        return None
    return shift_check(pred, cal, sample, seed=seed)


def _checked_predictor(model_dir: Path, n_draws: int) -> Predictor:
    pred = load_predictor(model_dir)
    if not pred.conformal:
        log.warning("%s has no calibration: the intervals will be NaN; calibrate the model "
                    "(the run's train stage does) for 68%%/95%% intervals", model_dir)
    if n_draws and (not pred.conformal or "mc" not in next(iter(pred.conformal.values())).quantiles_):
        raise InputError(f"{model_dir}: calibration ran without Monte Carlo; predict with n_draws=0 "
                         "or re-calibrate with [uncertainty] n_draws > 0")
    return pred


def _checked_output(output: Path, files: Sequence[Path]) -> Path:
    """``output``, once its format is known, it is not an input, and its folder exists (made if need be)."""
    output_format(output)
    out_abs = output.resolve()
    clash = [f for f in files if f.resolve() == out_abs or out_abs in f.resolve().parents]
    if clash:
        raise InputError(f"the output {output} is (or holds) the input {clash[0]}: choose another output")
    parent = output.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise InputError(f"cannot write {output}: {blocker} is a file, not a folder; choose another output path")
    if output.suffix and output.is_dir():
        raise InputError(f"cannot write {output}: it is a folder; choose a file name or drop the suffix")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot make the output folder {parent}: {err.strerror or err}") from None
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {output}: the folder {parent} is not writable; choose another output path")
    return output


@contextmanager
def _staging(output: Path, files: Sequence[Path]):
    """A folder beside the output (where Dask workers see it) for CSV inputs parsed into Parquet; removed."""
    if not any(table_format(f) == "csv" for f in files):
        yield None
        return
    stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.inputs-", dir=output.parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def _cleaned(parts_dir: Path, fresh: bool, lock: Path | None):
    """On an error before any part was written, remove the parts folder this run made (``fresh``: nothing is
    left behind; written parts stay for a rerun to resume); the lock file beside a single-file output goes at
    the end."""
    try:
        yield
    except BaseException:
        if fresh and parts_dir.is_dir() and not any(parts_dir.glob("part-*.parquet")):
            shutil.rmtree(parts_dir, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            lock.unlink(missing_ok=True)


_ID_LIKE = re.compile(r"(?i)(^|_)(id|name|designation|obsid|objid)$|^(obj|obs|star|source)(id|name)$")


def _kept_columns(chunks: Sequence[Chunk], id_columns: Sequence[str], keep_columns: Sequence[str] | None) -> list[str]:
    """``id_columns`` and the columns to carry over: ``keep_columns``, or the ID-like ones every input has."""
    per_file = [column_names(Path(p), f) for p, f in dict.fromkeys((c.path, c.fmt) for c in chunks)]
    names = [c for c in per_file[0] if all(c in other for other in per_file[1:])]
    if keep_columns is None:
        extra = [c for c in names if _ID_LIKE.search(c)]
    else:
        extra = list(keep_columns)
        absent = [c for c in extra if c not in names]
        if absent:
            raise InputError(f"keep_columns: {', '.join(absent)} not in every input (all have {', '.join(names[:8])}"
                             f"{', ...' if len(names) > 8 else ''})")
    return list(dict.fromkeys([*id_columns, *extra]))


def _finish(parts_dir: Path, n_chunks: int, output: Path, meta: dict) -> None:
    """Merge the parts into the single-file output (Parquet streamed; other formats through astropy)."""
    fmt = output_format(output)
    if fmt == "parquet":
        merge_parts(parts_dir, n_chunks, output, meta)
    else:
        merged = parts_dir / "_merged.parquet"
        merge_parts(parts_dir, n_chunks, merged, meta)
        write_astropy(merged, output, fmt)
    shutil.rmtree(parts_dir)


def _top_reasons(per_chunk, n: int = 3) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in per_chunk:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + int(v)
    return dict(sorted(total.items(), key=lambda kv: -kv[1])[:n])


def _tile_offsets(zero_points: str | Path | None, chunks: Sequence[Chunk]) -> pd.DataFrame | None:
    """The per-tile offsets to remove, once every input is seen to carry the tile column."""
    if zero_points is None:
        return None
    offsets = read_tile_offsets(zero_points)
    first = {c.path: c for c in reversed(chunks)}  # one look per file, at its first row
    lacking = [p for p, c in first.items()
               if TILE_COLUMN not in read_chunk(Chunk(c.index, p, c.fmt, c.start, c.start + 1), [TILE_COLUMN])]
    if lacking:
        raise InputError(f"zero points need {TILE_COLUMN} in every input; {lacking[0]} lacks it")
    return offsets


def _complete(output: Path, fingerprint: str, overwrite: bool, resume: bool) -> bool:
    """An existing single-file output: True when it is this very prediction; removed with ``overwrite``."""
    if overwrite:
        output.unlink()
        return False
    if resume and output_fingerprint(output) == fingerprint:
        return True
    raise InputError(f"{output} exists (from other inputs or options); pass overwrite=True "
                     "(--overwrite) to replace it")


def _resumed_chunks(parts_dir: Path, fingerprint: str, overwrite: bool, resume: bool) -> dict[int, list[int]]:
    """The chunks an earlier run of the same prediction wrote (``{index: [n_rows, n_rejected]}``)."""
    manifest_path = parts_dir / MANIFEST
    if not (parts_dir.exists() and any(p.name != LOCK_NAME for p in parts_dir.iterdir())):
        return {}
    if overwrite:
        for p in parts_dir.iterdir():
            if p.name != LOCK_NAME:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        return {}
    if not resume:
        raise InputError(f"output {parts_dir} is not empty; pass resume=True (--resume) to continue "
                         "or overwrite=True (--overwrite) to start afresh")
    if not manifest_path.is_file():
        raise InputError(f"{parts_dir} is not empty and has no {MANIFEST}; refusing to write into it")
    man = json.loads(manifest_path.read_text())
    if man.get("fingerprint") != fingerprint:
        raise InputError(
            f"cannot resume into {parts_dir}: it was written for other inputs, model or options "
            f"(manifest fingerprint {man.get('fingerprint')} != {fingerprint}); "
            "pass overwrite=True (--overwrite) to start afresh"
        )
    return {int(k): v for k, v in man["done"].items() if (parts_dir / part_name(int(k))).is_file()}


def _input_columns(pred: Predictor, n_draws: int, id_columns: Sequence[str]) -> list[str]:
    cols = list(id_columns) + pred.required_columns + pred.extra_columns
    if n_draws:
        cols += [f"mag_err_{b}" for b in pred.bands]
        cols += ["distance_lo_pc", "distance_hi_pc", "parallax", "parallax_error", "a0_err"]
    return list(dict.fromkeys(cols))


def _run_chunk(model_dir: str, chunk: Chunk, parts_dir: str, n_draws: int, seed: int,
               id_columns: tuple[str, ...], meta: dict, zero_points: pd.DataFrame | None = None,
               compute: dict | None = None, min_bands: int = MIN_BANDS,
               fail_after: int | None = None) -> tuple[int, int, int, dict]:
    """Read, predict and write one chunk (a Dask task, or a loop step in-process); ``compute`` overrides
    the predictor's ``n_threads`` / ``float32``."""
    if fail_after is not None and chunk.index >= fail_after:  # test hook: simulate an interruption
        raise KeyboardInterrupt(f"simulated interruption before chunk {chunk.index}")
    pred = load_predictor(model_dir)
    if compute:
        pred = replace(pred, **compute)
    cols = _input_columns(pred, n_draws, id_columns)
    table = read_chunk(chunk, cols + [TILE_COLUMN] if zero_points is not None else cols)
    if zero_points is not None:
        table = apply_tile_offsets(table, zero_points)
    res = predict_frame(pred, table, n_draws=n_draws, seed=[seed, chunk.index], id_columns=id_columns,
                        min_bands=min_bands)
    write_part(res, Path(parts_dir) / part_name(chunk.index), meta)
    return chunk.index, len(res), int((res["reason"] != "").sum()), reason_counts(res["reason"])


def _model_stamp(model_dir: Path) -> dict:
    """Size and time of the model files a prediction depends on (a retrained model is another prediction)."""
    files = [model_dir / LEGACY_PREDICTOR] if (model_dir / LEGACY_PREDICTOR).is_file() else []
    out = {}
    for p in [*files, *calibration_files(model_dir)]:
        st = p.stat()
        out[p.name] = [st.st_size, st.st_mtime]
    return out

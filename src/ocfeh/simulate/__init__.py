"""The mock sky: stellar populations from BaSTI-IAC isochrones, open clusters, survey noise, and
catalogues written in each survey's own column names, with a truth table that links them.

>>> from ocfeh.simulate import SimulationConfig
>>> SimulationConfig().sizes("small")
(12000, 4, 4)

Files written by :func:`simulate_sky` into the output directory (Parquet; ``.fits`` copies with
``fits=True``; native column names of DESIGN.md section 6):

- ``jplus_magabdualobj.parquet``: J-PLUS DR3 ``jplus.MagABDualObj``: ``tile_id``, ``number``,
  ``alpha_j2000``, ``delta_j2000``, ``class_star``; 12-element array columns in the archive's band order
  (:data:`ocfeh.bands.JPLUS_ARRAY_ORDER`: rSDSS, gSDSS, iSDSS, zSDSS, uJAVA, J0378 ... J0861): ``mag_aper_6_0``, ``mag_err_aper_6_0``, ``mag_aper_cor_6_0``,
  ``mag_err_aper_cor_6_0``, ``mag_auto``, ``mag_err_auto``, ``flags``, ``mask_flags``; 99 = not detected.
- ``jplus_mwextinction.parquet``: ``jplus.MWExtinction``: ``tile_id``, ``number``, ``ebv``, ``ebv_err``,
  ``ax`` (12 elements; the total Galactic column at the position, as SFD gives it).
- ``gaia_source.parquet``: Gaia DR3 ``gaia_source`` (``source_id``, ``ra``, ``dec``, ``parallax``, ``pmra``,
  ``pmdec`` with ``*_error``, ``phot_{g,bp,rp}_mean_mag``, ``*_flux_over_error``, ``ruwe``, ``bp_rp``, ``l``, ``b``).
- ``gaia_astrophysical_parameters.parquet``: GSP-Phot ``teff_gspphot``, ``logg_gspphot``, ``mh_gspphot``,
  ``distance_gspphot`` (+ lower/upper), ``azero_gspphot``, ``ag_gspphot``, ``ebpminrp_gspphot`` (G < 19).
- ``gaia_edr3_distances.parquet``: Bailer-Jones et al. (2021)-like ``r_med_geo``, ``r_lo_geo``, ``r_hi_geo``,
  ``r_med_photogeo``, ``r_lo_photogeo``, ``r_hi_photogeo``, ``flag``.
- ``catwise2020.parquet``: ``source_name``, ``ra``, ``dec``, ``sigra``, ``sigdec``, ``w1mpro``, ``w1sigmpro``,
  ``w1snr``, ``w2mpro``, ``w2sigmpro``, ``w2snr``, ``nb`` (Vega).
- ``lamost_dr8_lrs_stellar.parquet``: ``obsid``, ``designation``, ``ra``, ``dec``, ``snru``..``snrz``,
  ``class``, ``teff``, ``teff_err``, ``logg``, ``logg_err``, ``feh``, ``feh_err``, ``rv``, ``rv_err``.
- ``hr23_clusters.parquet``: Hunt & Reffert (2023)-like clusters: ``Name``, ``ID``, ``Type``, ``CST``, ``N``,
  ``RA_ICRS``, ``DE_ICRS``, ``GLON``, ``GLAT``, ``r50``, ``r50pc``, ``pmRA``, ``pmDE``, ``Plx`` (+ ``s_``/``e_``),
  ``dist16/50/84``, ``logAge16/50/84``, ``AV16/50/84``, ``MOD50``.
- ``hr23_members.parquet``: ``Name``, ``ID``, ``GaiaDR3``, ``Prob``, ``RA_ICRS``, ``DE_ICRS``, ``GLON``, ``GLAT``,
  ``pmRA``, ``e_pmRA``, ``pmDE``, ``e_pmDE``, ``Plx``, ``e_Plx``, ``RUWE``, ``Gmag``, ``BPmag``, ``RPmag``
  (true members and field contaminants).
- ``truth.parquet``: one row per star in any table: ``star_id``, links ``source_id``, ``jplus_tile_id``,
  ``jplus_number``, ``lamost_obsid`` (-1 where absent), ``catwise_source_name`` (null where absent), ``hr23_listed``,
  ``component`` (thin/thick/halo/cluster), ``cluster``, ``teff_true``, ``logg_true``, ``feh_true``,
  ``mass_true``, ``mass_ini``, ``radius_true``, ``distance_true_pc``, ``a0_true``, ``age_true_myr``,
  ``mass_ratio``/``is_binary``, true positions (epoch 2016) and motions, ``mag_<band>_true``.
- ``truth_clusters.parquet``: true cluster ``Name``, age, [Fe/H], distance, A_0, r50, motion.
- ``manifest.json``: provenance (config, config hash, seed, versions, row counts, systematics drawn).

Every Parquet file carries ``ocfeh`` schema metadata (table, config hash, seed, version) and no
time stamp, so the same seed and configuration give byte-identical files (only ``manifest.json``
records the time).
"""

from .config import PROFILE_SIZES, SimulationConfig
from .sky import FILES, simulate_sky
from .sources import TRUTH_COLUMNS, cluster_truth, mock_sources, star_truth

__all__ = ["SimulationConfig", "PROFILE_SIZES", "simulate_sky", "FILES", "TRUTH_COLUMNS", "mock_sources", "star_truth",
           "cluster_truth"]

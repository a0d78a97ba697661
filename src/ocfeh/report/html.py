"""``report.html``: one self-contained page (images embedded) laid out like the poster.

Sections: the data, the method, the results, the clusters, the provenance. Everything is read from
the run directory, so the report can be rebuilt alone (``ocfeh report RUN_DIR``).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from ..datafiles import DATA_FILES
from ..exceptions import InputError
from ..provenance import atomic_path

__all__ = ["write_report", "SECTIONS"]

# section -> filename keywords of the figures that belong to it (first match wins)
SECTIONS = {
    "data": ("label", "cleaning", "sample", "sky"),
    "method": ("rfecv", "shap", "importance", "selection", "stability", "topn"),
    "results": ("pred", "resid", "coverage", "variant", "interval", "validation"),
    "clusters": ("cluster", "cmd", "isochrone", "posterior", "membership"),
}
_CSS = """
body{font-family:system-ui,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{border-bottom:3px solid #35618f}h2{color:#35618f;margin-top:2em}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eef3f8}figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:48%}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:0.85em;color:#555}
.key{display:inline-block;margin:0.3em 1em 0.3em 0;padding:0.4em 0.8em;background:#eef3f8;border-radius:4px}
pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:0.8em}
"""


def _table(df: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    def fmt(v):
        if isinstance(v, float):
            return "" if pd.isna(v) else float_format.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _figure(path: Path, run_dir: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    cap = html.escape(str(path.relative_to(run_dir)))
    return f'<figure><img alt="{cap}" src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'


def _section_of(path: Path) -> str:
    name = str(path).lower()
    for section, keys in SECTIONS.items():
        if any(k in name for k in keys):
            return section
    return "results"


def _metrics_table(metrics: dict) -> pd.DataFrame | None:
    rows = []
    for target in ("teff", "logg", "feh"):
        m = metrics.get(target)
        if isinstance(m, dict):
            rows.append({"target": target, **{k: v for k, v in m.items() if isinstance(v, (int, float))}})
    return pd.DataFrame(rows) if rows else None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a run directory and return its path."""
    run_dir = Path(run_dir)
    if not any((run_dir / f).exists() for f in ("config.json", "metrics.json", "sample.parquet")):
        raise InputError(f"{run_dir} is not a run directory (no config.json, metrics.json or sample.parquet); "
                         "give the directory `ocfeh run` or `ocfeh demo` wrote")
    out = Path(out) if out else run_dir / "report.html"
    figs: dict[str, list[Path]] = {k: [] for k in SECTIONS}
    for p in sorted(run_dir.rglob("*.png")):
        figs[_section_of(p.relative_to(run_dir))].append(p)
    metrics = _read_json(run_dir / "metrics.json")
    cfg = _read_json(run_dir / "config.json")
    what = "of open clusters" if (run_dir / "clusters.csv").is_file() else "of stars"
    parts = [f"<h1>ocfeh: photometric [Fe/H] {what}</h1><p>Run directory: <code>{html.escape(str(run_dir))}</code></p>"]

    key_numbers = []
    for target, unit in (("teff", "K"), ("logg", "dex"), ("feh", "dex")):
        m = metrics.get(target, {})
        if "mae" in m:
            truth = f" (against the truth {m['mae_true']:.3g})" if "mae_true" in m else ""
            key_numbers.append(f'<span class="key" id="mae-{target}">MAE {target}: {m["mae"]:.3g} {unit}{truth}</span>')
    parts.append("<div>" + "".join(key_numbers) + "</div>")

    parts.append("<h2 id='data'>1. The data</h2>")
    if (run_dir / "cleaning.csv").is_file():
        parts.append("<h3>Cleaning (as the poster's Table 1)</h3>" + _table(pd.read_csv(run_dir / "cleaning.csv")))
    if (run_dir / "colour_check.csv").is_file():
        cc = pd.read_csv(run_dir / "colour_check.csv")
        parts.append("<h3>Labelled stars against synthetic colours at their labels (mag; slopes in mag per dex "
                     "of [Fe/H], dwarfs 5500-6500 K)</h3>"
                     + _table(cc[["colour", "n", "offset", "robust_scatter", "expected_scatter", "slope_observed",
                                  "slope_synthetic"]]))
    parts += [_figure(p, run_dir) for p in figs["data"]]

    parts.append("<h2 id='method'>2. The method</h2>")
    sel = _read_json(run_dir / "model" / "selection.json")
    if sel.get("feature_counts"):
        parts.append("<h3>Features kept per step</h3>" + _table(pd.DataFrame(sel["feature_counts"])))
    parts += [_figure(p, run_dir) for p in figs["method"]]

    parts.append("<h2 id='results'>3. Results on the blind test</h2>")
    mt = _metrics_table(metrics)
    if mt is not None:
        parts.append(_table(mt))
    for name in ("coverage", "variants", "peers"):
        if isinstance(metrics.get(name), list) and metrics[name]:
            parts.append(f"<h3>{name}</h3>" + _table(pd.DataFrame(metrics[name])))
    parts += [_figure(p, run_dir) for p in figs["results"]]

    parts.append("<h2 id='clusters'>4. Open clusters</h2>")
    if (run_dir / "clusters.csv").is_file():
        parts.append(_table(pd.read_csv(run_dir / "clusters.csv")))
    parts += [_figure(p, run_dir) for p in figs["clusters"]]

    parts.append("<h2 id='provenance'>5. Provenance</h2>")
    prov = cfg.get("provenance", {})
    parts.append(
        f"<p>seed {html.escape(str(prov.get('seed')))}, config hash {html.escape(str(prov.get('config_hash')))}, "
        f"ocfeh {html.escape(str(prov.get('ocfeh_version')))}, created {html.escape(str(prov.get('created_utc')))}</p>"
    )
    if prov.get("versions"):
        parts.append(_table(pd.DataFrame(sorted(prov["versions"].items()), columns=["package", "version"])))
    parts.append("<h3>Configuration</h3><pre>" + html.escape(json.dumps(cfg.get("config", {}), indent=1)) + "</pre>")
    cites = sorted({f.citation for f in DATA_FILES.values()})
    parts.append("<h3>Data sources</h3><ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in cites) + "</ul>")

    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ocfeh report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>")
    with atomic_path(out) as tmp:
        tmp.write_text(page)
    return out

"""The documentation stays true: README's headline is generated, no result number is typed by hand,
and the site builds (warnings are errors) with every tutorial executed and every figure shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .browser import chromium

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import generate

# a line that reports a measurement: a result word beside a number with a unit
RESULT_WORD = re.compile(r"\b(MAE|scatter|bias|coverage|covered|took|peak|RSS|faster|slower|stars/s|speed-?up|"
                         r"wall|accuracy|precision of)\b", re.I)
NUMBER_UNIT = re.compile(r"(?<![\w.])\d+(\.\d+)?\s?(K|dex|mag|s|min|h|GB|MB|kB|%|stars/s|x)(?![\w])")
LEVELS = re.compile(r"(?<![\w.])(68|95|\d+(\.\d+)?-\d+(\.\d+)?)\s?%")  # interval levels, percentile ranges


def _prose(text: str) -> list[tuple[int, str]]:
    """Lines outside code blocks, generated blocks and notebook cells, with their line numbers."""
    out, fence = [], False
    text = re.sub(re.escape(generate.BEGIN) + ".*?" + re.escape(generate.END), "", text, flags=re.S)
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
            continue
        if not fence:
            out.append((n, line))
    return out


def hand_typed_results(text: str) -> list[str]:
    """Lines of Markdown prose that state a measured number (interval levels such as 68 % are no result)."""
    return [f"{n}: {line.strip()}" for n, line in _prose(text)
            if RESULT_WORD.search(line) and NUMBER_UNIT.search(LEVELS.sub("", line))]


def test_the_scan_finds_a_typed_result_and_passes_a_setting():
    assert hand_typed_results("The blind-test MAE is 74 K on the mock sky.\n")
    assert hand_typed_results("prediction took 3.5 min for 5 million stars")
    assert not hand_typed_results("The cut keeps parallax / error > 5 and G < 19 mag.\n")
    assert not hand_typed_results("the fraction of stars whose 68 % interval holds the label (coverage)")
    assert not hand_typed_results("```\nMAE 74 K\n```\n")
    assert not hand_typed_results(f"{generate.BEGIN}\n| MAE | 74 K |\n{generate.END}\n")


def test_readme_and_docs_type_no_result_by_hand():
    generated = ("config_tables.md", "cli_commands.md")  # written from the code and the JSON at each build
    pages = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts
                                          and "results" not in p.parts and p.name not in generated)]
    found = {str(p.relative_to(ROOT)): hits for p in pages if (hits := hand_typed_results(p.read_text()))}
    assert not found, f"numbers typed by hand (show them through docs/generate.py): {json.dumps(found, indent=1)}"


def test_readme_headline_block_is_the_generated_one():
    res = subprocess.run([sys.executable, str(DOCS / "generate.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    readme = (ROOT / "README.md").read_text()
    demo = json.loads((ROOT / "benchmarks" / "results" / "demo_default.json").read_text())
    # the headline shows the recorded blind test, rounded as the table rounds it
    assert f"| {demo['blind_test']['teff']['mae']:.0f} | {demo['blind_test']['logg']['mae']:.3f} |" in readme
    assert len(readme.encode()) <= 10_500, "README is a front page (about 10 kB at most)"


def test_a_result_is_stale_once_the_code_it_measures_changed():
    def git(*args):
        res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return res.stdout.strip() if res.returncode == 0 else ""

    head = git("rev-parse", "HEAD")
    if not head:
        pytest.skip("no git history")
    first = git("rev-list", "--max-parents=0", "HEAD").splitlines()[0]
    st = {"commit": head, "commit_by_date": False, "dirty": False}
    assert generate.freshness("demo_default", st)[0] == "current"
    assert generate.freshness("demo_default", {**st, "commit": first})[0] == "stale"
    assert generate.freshness("x", {**st, "commit": None})[0] == "unknown"


def test_config_reference_lists_every_key(tmp_path):
    from ocfeh.pipeline.config import SECTION_MODELS

    path = tmp_path / "config.md"
    generate.write_config_reference(path)
    text = path.read_text()
    for section, model in SECTION_MODELS.items():
        assert f"## `[{section}]`" in text
        for key in model.model_fields:
            assert f"`{key}`" in text or f"## `[{section}.{key}]`" in text, (section, key)
    assert '"mock"' in text  # allowed values of a Literal are listed


def build_docs(run_dir: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OCFEH_DOCS_RUN": str(run_dir)}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(out)], capture_output=True, text=True, env=env, cwd=ROOT)


def check_built_site(html: Path) -> None:
    """Every page's images decode; every executed tutorial shows its outputs and no error."""
    pages = ["index.html", "getting_started.html", "guide/method.html", "reference/cli.html",
             "reference/config.html", "reference/api.html", "results/index.html",
             *(f"tutorials/{t}.html" for t in ("tour", "own_stars", "cluster", "own_labels", "real_data"))]
    with chromium() as drv:
        for page in pages:
            assert (html / page).is_file(), page
            drv.get((html / page).as_uri())
            images = drv.execute_script(
                "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0]);")
            assert all(ok for _, ok in images), (page, [s for s, ok in images if not ok])
            text = drv.find_element("tag name", "body").text
            assert "Traceback" not in text, page
            if page.startswith("tutorials/") and "real_data" not in page:
                n_out = drv.execute_script("return document.querySelectorAll('.cell_output').length;")
                assert n_out >= 3, (page, n_out)
                assert images, page  # each executed tutorial draws at least one figure
        drv.get((html / "reference" / "cli.html").as_uri())
        assert "--min-bands" in drv.find_element("tag name", "body").text

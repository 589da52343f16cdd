"""The profile HTML page rendered by a real browser (headless Chromium) shows every segment."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest

from semseg.profile.index import profile
from semseg.profile.render import render_html
from semseg.spec import load_spec
from tests.conftest import engine_unavailable
from tests.golden_regen import SPECS

pytestmark = pytest.mark.engines
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        engine_unavailable("chromium", "Chromium: not on PATH (Debian package 'chromium')")
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    spec_file = load_spec(SPECS / "olist_personas.yml")
    result = profile(spec_file, "persona", projection=True)
    path = tmp_path_factory.mktemp("html") / "personas.html"
    path.write_text(render_html(result), encoding="utf-8")
    names = spec_file.spec.segmentations["persona"].cluster.names  # every persona is named
    return path, [f"{seg} {names[seg]}" for seg, _ in result.segments]


def _run(chromium, tmp_path, *args):
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


class _Text(HTMLParser):
    """Text of the rendered DOM by section (h2 heading → text under it)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {}
        self._in_h2, self._current = False, ""

    def handle_starttag(self, tag, attrs):
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2 and data.strip():
            self._current = data.strip()
            self.sections.setdefault(self._current, [])
        elif data.strip() and self._current:
            self.sections[self._current].append(data.strip())


def test_rendered_dom_shows_every_segment_in_sizes_and_heat_map(chromium, page, tmp_path):
    path, segments = page
    dom = _run(chromium, tmp_path, "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Text()
    parser.feed(dom.stdout)
    sizes = next(v for k, v in parser.sections.items() if k.lower().startswith("segment sizes"))
    heat = next(v for k, v in parser.sections.items() if "heat map" in k.lower())
    assert len(segments) >= 5
    for seg in segments:
        assert seg in sizes, f"segment {seg} missing from the sizes chart"
        assert seg in heat, f"segment {seg} missing from the heat map"
    assert not re.search(r"https?://", dom.stdout.replace("http://www.w3.org/2000/svg", ""))


def _png_pixels(data: bytes) -> bytes:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_screenshot_is_not_blank(chromium, page, tmp_path):
    path, _ = page
    shot = tmp_path / "page.png"
    result = _run(
        chromium, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", path.as_uri()
    )
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = _png_pixels(shot.read_bytes())
    # A blank page compresses to a handful of byte values; the chart and heat map use many.
    assert len(set(pixels)) > 100


PROBE = (
    "<script>document.body.insertAdjacentHTML('beforeend', '<p id=\"probe\">' + "
    "document.documentElement.scrollWidth + 'x' + window.innerWidth + '</p>')</script>"
)


def test_the_page_fits_1280_pixels_without_horizontal_scrolling(chromium, page, tmp_path):
    """A copy of the page with a probe script (the report itself has none) measures how wide
    the laid-out document is in a 1280 px window; a screenshot at that width is kept."""
    path, segments = page
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom = _run(chromium, tmp_path, "--window-size=1280,2000", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<p id="probe">(\d+)x(\d+)</p>', dom.stdout)
    assert found, dom.stdout[-2000:]
    width, window = int(found.group(1)), int(found.group(2))
    assert window == 1280 and width <= window, f"the page is {width} px wide in {window} px"
    shot = tmp_path / "personas-1280.png"
    result = _run(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400",
                  path.as_uri())  # fmt: skip
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert struct.unpack(">II", data[16:24]) == (1280, 2400)
    assert len(set(_png_pixels(data))) > 100


def test_a_propensity_page_draws_gains_and_calibration(chromium, tmp_path):
    """Issue 24: the profile of a segmentation by a propensity has the fit's gains curve (its
    first step is the top decile's capture) and calibration points, rendered by Chromium."""
    import json

    spec_file = load_spec(SPECS / "offer_propensity.yml")
    path = tmp_path / "propensity.html"
    path.write_text(render_html(profile(spec_file, "propensity_decile")), encoding="utf-8")
    dom = _run(chromium, tmp_path, "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = _Text()
    parser.feed(dom.stdout)
    section = parser.sections[
        "Propensity offer_propensity: gains and calibration (validation split)"
    ]
    model = json.loads((SPECS / "offer_propensity.offer_propensity.model.json").read_text())
    v = model["fit"]["validation"]
    assert f"AUC {v['auc']:.3f}" in " ".join(section)
    points = re.search(r'aria-label="gains".*?points="([^"]+)"', dom.stdout, re.S).group(1).split()
    assert len(points) == 11 and points[0] == "0.0,220.0" and points[-1] == "220.0,0.0"
    x, y = (float(t) for t in points[1].split(","))
    assert x == pytest.approx(22.0, abs=0.1)
    assert (220 - y) / 220 == pytest.approx(v["top_decile_capture"], abs=0.001)
    calibration = re.search(r'aria-label="calibration".*?</svg>', dom.stdout, re.S).group(0)
    assert calibration.count("<circle") == len(v["calibration"]) == 10


def test_the_measure_page_draws_each_effect_inside_its_interval(chromium, tmp_path):
    """Issue 25: ``measure --html``, rendered by Chromium, has a row per segment and arm, each
    drawn as a dot (the difference) on a line (its interval) placed where the report's
    numbers put them on the outcome's scale, with the line of no effect among them."""
    import json

    from tests.cli_helpers import run

    spec, page = SPECS / "customer_lifecycle.yml", tmp_path / "measure.html"
    done = run("measure", spec, "--as-of", "2025-10-31", "--format", "json", "--html", page)
    assert done.exit_code == 0, done.output
    effects = json.loads(done.stdout)
    dom = _run(chromium, tmp_path, "--window-size=1280,1200", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    rows = re.findall(r'<tr class="effect">(.*?)</tr>', dom.stdout, re.S)
    assert len(rows) == len(effects) == 3
    for row, e in zip(rows, effects, strict=True):
        assert re.search(r'class="segment">([^<]*)<', row).group(1) == e["segment"]
        zero = float(re.search(r'class="zero" x1="([\d.]+)"', row).group(1))
        low, high = map(float, re.search(r'class="interval" x1="([\d.]+)" y1="11" x2="([\d.]+)"',
                                         row).groups())  # fmt: skip
        dot = float(re.search(r'class="difference" cx="([\d.]+)"', row).group(1))
        assert low <= dot <= high
        # the three points keep the numbers' proportions (to the drawing's 0.1 px)
        span = e["ci_high"] - e["ci_low"]
        assert (dot - low) / (high - low) == pytest.approx(
            (e["difference"] - e["ci_low"]) / span, abs=0.2 / (high - low)
        )
        assert (zero - low) / (high - low) == pytest.approx(
            -e["ci_low"] / span, abs=0.2 / (high - low)
        )
        assert (low <= zero <= high) == (e["ci_low"] <= 0 <= e["ci_high"])
    shot = tmp_path / "measure.png"
    result = _run(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,800",
                  page.as_uri())  # fmt: skip
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert len(set(_png_pixels(shot.read_bytes()))) > 50


def test_the_transitions_page_sums_to_the_two_dates_sizes(chromium, tmp_path):
    """Issue 26: ``transitions --html``, rendered by Chromium: a row per segment at the first
    date and the new keys; each row's cells add up to its total and each column's to the
    column total the page shows (the JSON's numbers); the diagonal is outlined; shading
    grows with the row share."""
    import json

    from tests.cli_helpers import run

    spec, page = SPECS / "customer_lifecycle.yml", tmp_path / "moves.html"
    done = run("transitions", spec, "--from", "2025-05-31", "--to", "2025-11-30",
               "--format", "json", "--html", page)  # fmt: skip
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    dom = _run(chromium, tmp_path, "--window-size=1280,900", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]

    def number(text: str) -> int:
        return int(text.replace(",", ""))

    rows = re.findall(r'<tr class="transition">(.*?)</tr>', dom.stdout, re.S)
    assert len(rows) == len(payload["rows"]) == 6
    columns = [0] * len(payload["columns"])
    for html_row, row in zip(rows, payload["rows"], strict=True):
        assert re.search(r'<th class="row">([^<]*)</th>', html_row).group(1) == row["segment"]
        cells = re.findall(r'<td class="cell( stayed)?" style="background:rgba\(31, 95, 168, '
                           r'([\d.]+)\);[^"]*">([\d,]+)<', html_row)  # fmt: skip
        counts = [number(n) for _, _, n in cells]
        total = number(re.search(r'<td class="total">([\d,]+)</td>', html_row).group(1))
        assert sum(counts) == total == row["keys"]
        columns = [c + n for c, n in zip(columns, counts, strict=True)]
        stayed = [i for i, (mark, _, _) in enumerate(cells) if mark]
        segments = [c["segment"] for c in payload["columns"]]
        kept = not row["new"] and row["segment"] in segments
        assert stayed == ([segments.index(row["segment"])] if kept else [])
        by_share = sorted(zip(counts, (float(a) for _, a, _ in cells), strict=True))
        assert [a for _, a in by_share] == sorted(a for _, a in by_share)
    shown = re.search(r'<tr class="totals">(.*?)</tr>', dom.stdout, re.S).group(1)
    totals = [number(n) for n in re.findall(r'<td class="total">([\d,]+)</td>', shown)]
    assert totals == columns == [c["keys"] for c in payload["columns"]]

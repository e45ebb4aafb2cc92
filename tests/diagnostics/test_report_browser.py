"""The report in a real headless browser: it loads, every image decodes, no errors."""

import pytest

from .chromium import find_chromium, load_page
from .conftest import REPORT_FIGURES, REPORT_TITLES

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); "
                    "the report's browser test needs it")
    return path


def test_report_loads_in_chromium(chromium, report_page, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(report_page, encoding="utf-8")
    page = load_page(path.as_uri(), chromium=chromium)
    assert page.title == "test run"
    assert page.errors == []
    assert len(page.images) == REPORT_FIGURES
    for image in page.images:
        assert image["ok"], image
        assert image["width"] > 0 and image["height"] > 0, image
    # The summary comes first, one visible line per verdict, each with its status and
    # its number.
    assert page.sections == REPORT_TITLES
    assert [v["text"].split(":")[0].strip("✓✗!i \n") for v in page.summary] == [
        "Fit", "Predictive performance", "Calibration", "Out-of-distribution detection",
        "Optimisation", "Posterior predictive check", "Simulation-based calibration"]
    for verdict in page.summary:
        assert verdict["visible"] and verdict["status"] in {"ok", "warn", "bad", "info"}
        assert any(ch.isdigit() for ch in verdict["text"]), verdict
    # The page fetches nothing but itself and its embedded images.
    assert page.requests[0] == path.as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in page.requests[1:])


def test_a_console_error_would_be_caught(chromium, tmp_path):
    # The check itself must be able to fail: a page with a broken image and a throwing
    # script reports both.
    path = tmp_path / "broken.html"
    path.write_text('<!DOCTYPE html><html><head><title>b</title></head><body>'
                    '<img src="data:image/png;base64,AAAA" alt="broken">'
                    '<script>console.error("boom"); null.x;</script></body></html>',
                    encoding="utf-8")
    page = load_page(path.as_uri(), chromium=chromium)
    assert not page.images[0]["ok"]
    assert any("boom" in e for e in page.errors)
    assert any("exception" in e for e in page.errors)

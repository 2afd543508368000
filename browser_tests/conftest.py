"""Shared by the browser tests: Debian's Chromium driven by Playwright (no browser download)."""
from __future__ import annotations

import os
import shutil

import pytest

# Chromium's own connections (updates, sync, QUIC) would be refused by a closed network, many at a time
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


def missing(what: str):
    if os.environ.get("LECTURELIB_BROWSER_REQUIRED"):
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        missing("Chromium is not installed: on Debian/Ubuntu run `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed: run `pip install playwright` (or `make test-browser`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()



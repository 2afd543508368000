"""The book and the slides in a real browser (`make test-browser`, after `make course`, `make book`
and `make slides`).

Every page of build/book/ and every deck of build/slides/ is served on loopback and opened in
headless Chromium. A page passes when nothing on it fails (no console error, no failed request)
and nothing is asked of another host; when it shows at least as many images as `make course` drew
for its notebook; when MathJax has typeset its maths (no raw $...$ is left in its prose); and when
its internal links lead somewhere. Search finds a lecture. A deck passes when it advances slide by
slide. Screenshots go to build/screenshots/ for a person to look at.
"""
from __future__ import annotations

import functools
import http.server
import pathlib
import re
import threading
import urllib.parse

import pytest
from conftest import missing

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK, SLIDES, COURSE = ROOT / "build" / "book", ROOT / "build" / "slides", ROOT / "build" / "course"
SHOTS = ROOT / "build" / "screenshots"
STEMS = [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]

# The text of a page's prose once MathJax is done: code, scripts and typeset maths left out
PROSE = """() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .highlight, '
                        + '.cell_output, .output_area, .jp-OutputArea, mjx-container').forEach(e => e.remove());
  return copy.innerText;
}"""
FIRST_FIGURE = """() => { const img = [...document.querySelectorAll('main img')]
  .find(i => i.offsetParent !== null && i.naturalWidth > 200);
  if (img) img.scrollIntoView({block: 'center'}); return !!img; }"""
# Wait for MathJax 3 (where a page loads it) to finish typesetting; the number of typeset formulas
MATHJAX_DONE = """() => new Promise(done => {
  const wait = () => {
    if (!document.querySelector('script[src*="mathjax"]')) return done(0);
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return setTimeout(wait, 100);
    MathJax.startup.promise.then(() => done(document.querySelectorAll('mjx-container').length));
  };
  wait();
})"""


def _serve(folder: pathlib.Path, what: str):
    if not (folder / "index.html").exists():
        missing(f"{folder} has no index.html: run `make course`, then `make {what}`")
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def book_url():
    server = _serve(BOOK, "book")
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def slides_url():
    server = _serve(SLIDES, "slides")
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class Visit:
    """A page open in Chromium, with every problem it had recorded: console errors, uncaught
    exceptions, failed requests (a 4xx/5xx answer included) and any request to another host (each
    blocked, so a missing offline asset fails here as it would in a classroom)."""

    def __init__(self, browser, base: str):
        self.problems: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        host = urllib.parse.urlparse(base).netloc
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

        def route(r):
            if urllib.parse.urlparse(r.request.url).netloc in (host, ""):
                return r.continue_()
            self.problems.append(f"asked another host: {r.request.url}")
            return r.abort()
        self.page.route("**/*", route)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.page.close()


def _png_count(stem: str) -> int:
    return len(list((COURSE / stem).glob("*.png")))


@pytest.mark.parametrize("stem", STEMS)
def test_book_page(browser, book_url, stem):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Visit(browser, book_url) as v:
        v.page.goto(f"{book_url}/{stem}.html", wait_until="load")
        typeset = v.page.evaluate(MATHJAX_DONE)
        v.page.wait_for_load_state("networkidle")
        images = v.page.evaluate("() => [...document.querySelectorAll('main img')].map(i => i.naturalWidth)")
        prose = v.page.evaluate(PROSE)
        links = v.page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        v.page.screenshot(path=str(SHOTS / f"book_{stem}.png"))
        if v.page.evaluate(FIRST_FIGURE):  # the first figure in view, as a reader scrolls to it
            v.page.wait_for_timeout(200)
            v.page.screenshot(path=str(SHOTS / f"book_{stem}_figure.png"))
        assert not v.problems, f"{stem}: " + "; ".join(v.problems[:5])
    drawn = _png_count(stem)
    assert len(images) >= drawn, f"{stem}: the page shows {len(images)} images, make course drew {drawn}"
    assert all(w > 0 for w in images), f"{stem}: {images.count(0)} images did not load"
    raw = re.findall(r"\$[^$\n]{1,60}\$|\\\(|\\\[", prose)
    assert not raw, f"{stem}: maths left untypeset: {raw[:5]} ({typeset} typeset)"
    _check_links(book_url, links, stem)


def _check_links(base: str, links: list[str], where: str) -> None:
    import urllib.request

    for link in {u.split("#")[0] for u in links if u.startswith(base)}:
        with urllib.request.urlopen(link) as r:
            assert r.status == 200, f"{where}: {link} answered {r.status}"


def test_book_index_is_the_lecture_map(browser, book_url):
    with Visit(browser, book_url) as v:
        v.page.goto(f"{book_url}/index.html")
        v.page.wait_for_load_state("networkidle")
        hrefs = v.page.evaluate("() => [...document.querySelectorAll('main a[href]')].map(a => a.getAttribute('href'))")
        v.page.screenshot(path=str(SHOTS / "book_index.png"), full_page=True)
        assert not v.problems, "; ".join(v.problems[:5])
    for stem in STEMS:
        assert f"{stem}.html" in hrefs, f"the index does not link {stem}"
    _check_links(book_url, [f"{book_url}/{h}" for h in hrefs if not h.startswith("http")], "index")


def test_book_search_finds_a_lecture(browser, book_url):
    with Visit(browser, book_url) as v:
        v.page.goto(f"{book_url}/search.html?q=occlusion")
        v.page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        found = v.page.evaluate("() => [...document.querySelectorAll('#search-results li a')].map(a => a.getAttribute('href'))")
        v.page.screenshot(path=str(SHOTS / "book_search.png"))
        assert not v.problems, "; ".join(v.problems[:5])
    assert any("03_occlusion" in h for h in found), found


@pytest.mark.parametrize("stem", STEMS)
def test_deck_advances(browser, slides_url, stem):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Visit(browser, slides_url) as v:
        v.page.goto(f"{slides_url}/{stem}.slides.html")
        v.page.wait_for_function("() => window.Reveal && Reveal.isReady && Reveal.isReady()", timeout=30_000)
        v.page.evaluate(MATHJAX_DONE)
        total = v.page.evaluate("() => Reveal.getTotalSlides()")
        v.page.screenshot(path=str(SHOTS / f"slides_{stem}.png"))
        seen = [v.page.evaluate("() => Reveal.getIndices()")]
        for _ in range(min(total - 1, 4)):
            v.page.keyboard.press("Space")  # the next slide, fragment or sub-slide, as a presenter's clicker
            v.page.wait_for_timeout(150)
            seen.append(v.page.evaluate("() => Reveal.getIndices()"))
        # the first slide with a picture, as an audience sees it
        found = v.page.evaluate("""() => { const s = [...document.querySelectorAll('.slides section')]
            .find(e => !e.querySelector('section') && e.querySelector('img'));
            if (!s) return false; const i = Reveal.getIndices(s); Reveal.slide(i.h, i.v, 99); return true; }""")
        if found:
            v.page.wait_for_timeout(300)
            v.page.screenshot(path=str(SHOTS / f"slides_{stem}_figure.png"))
        assert not v.problems, f"{stem}: " + "; ".join(v.problems[:5])
    assert total >= 5, f"{stem}: only {total} slides"
    assert len({(s["h"], s["v"], s.get("f")) for s in seen}) == len(seen), f"{stem}: the deck did not advance: {seen}"
    assert found, f"{stem}: no slide shows a picture"

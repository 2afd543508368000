import http.server
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import lecturelib as ll
from lecturelib.images import MAX_SIDE


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket", "grace_hopper", "china",
                                  "flower", "hubble_deep_field"])
def test_samples_load_as_rgb(name):
    img = ll.load_image(name)
    assert img.mode == "RGB" and min(img.size) >= 200


def test_unknown_sample_lists_close_names():
    with pytest.raises(KeyError, match="chelsea"):
        ll.load_image("chelsee")


def test_modes_become_rgb():
    gray = Image.fromarray(np.full((10, 12), 100, np.uint8))
    assert np.asarray(ll.load_image(gray))[0, 0].tolist() == [100, 100, 100]
    rgba = Image.fromarray(np.dstack([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)]), "RGBA")
    assert np.asarray(ll.load_image(rgba))[0, 0].tolist() == [255, 255, 255]  # transparent → white
    pal = gray.convert("P")
    assert ll.load_image(pal).mode == "RGB"
    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert np.asarray(ll.load_image(sixteen))[0, 0].tolist() == [255, 255, 255]  # scaled, not clipped
    half = Image.fromarray(np.full((4, 4), 32896, np.uint16))
    assert np.asarray(ll.load_image(half))[0, 0, 0] == 128
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # pure red in CMYK
    assert np.asarray(ll.load_image(cmyk))[0, 0].tolist() == [255, 0, 0]


def test_arrays_and_tensors():
    a = np.zeros((5, 6, 3), np.float32)
    a[..., 1] = 1.0
    assert np.asarray(ll.load_image(a))[0, 0].tolist() == [0, 255, 0]
    t = torch.zeros(1, 3, 5, 6)
    t[:, 2] = 1
    assert np.asarray(ll.load_image(t))[0, 0].tolist() == [0, 0, 255]
    assert ll.load_image(np.ones((5, 6), bool)).size == (6, 5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ll.load_image(np.full((5, 5, 3), 200.0))
    with pytest.raises(ValueError, match="shape"):
        ll.load_image(np.zeros((5, 5, 7)))
    with pytest.raises(TypeError, match="sample name"):
        ll.load_image(3.5)


def test_files(tmp_path):
    p = tmp_path / "x.png"
    Image.new("RGB", (30, 20), (1, 2, 3)).save(p)
    assert ll.load_image(p).size == (30, 20)
    assert ll.load_image(str(p), size=10).size == (15, 10)
    with pytest.raises(FileNotFoundError, match="no image file"):
        ll.load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ValueError, match="corrupt"):
        ll.load_image(bad)


def test_large_jpeg_decoded_small_without_big_memory(tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (12000, 9000), (120, 30, 200)).save(p, quality=50)
    code = ("import resource, lecturelib as ll; r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            f"img = ll.load_image({str(p)!r}); "
            "print(img.size[0], img.size[1], (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) // 1024)")
    w, h, grew_mb = map(int, subprocess.check_output([sys.executable, "-c", code], text=True).split())
    assert max(w, h) == MAX_SIDE and abs(w / h - 12000 / 9000) < 0.01
    assert grew_mb < 150, f"loading a 108-megapixel JPEG grew memory by {grew_mb} MB"  # full decode: 324 MB


def test_url_downloaded_once_into_cache(tmp_path):
    Image.new("RGB", (40, 30), (9, 9, 9)).save(tmp_path / "pic.png")
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path), **k)

        def log_message(self, *a):
            hits.append(a)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pic.png"
        assert ll.load_image(url).size == (40, 30)
        assert ll.load_image(url).size == (40, 30)
        assert len(hits) == 1
        with pytest.raises(OSError, match="could not download"):
            ll.load_image(f"http://127.0.0.1:{server.server_address[1]}/missing.png")
    finally:
        server.shutdown()


def test_the_course_painting_loads_by_name_and_is_checked(tmp_path):
    """Lecture 09's style image (tools/paint.py): loaded by name from the clone's data/, verified by
    its SHA-256 (the same as data/painting/SHA256SUMS); a changed file is refused. Not a sample photo,
    so `sample_names` (the photos patch retrieval scans) leaves it out."""
    from lecturelib import images
    img = ll.load_image("painting")
    assert img.mode == "RGB" and img.size == (512, 512) and "painting" not in ll.sample_names()
    sums = (images.pathlib.Path(images.__file__).resolve().parents[1] / "data" / "painting" / "SHA256SUMS").read_text()
    assert sums.split() == [images.PAINTING_SHA256, images.PAINTING]
    import tomllib
    root = images.pathlib.Path(images.__file__).resolve().parents[1]
    repo = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    assert images.PAINTING_URL.startswith(repo.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/")
    bad = tmp_path / "painting.png"
    Image.new("RGB", (8, 8)).save(bad)
    with pytest.raises(ValueError, match="SHA-256"):
        images._painting(bad)

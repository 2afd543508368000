"""The character LSTM of lecture 12: ground truth, recording, colouring. Its lecture claims (cells that
track strings and brackets, an untrained copy that does not) are in test_lecture_12_rnn_cells.py."""
import hashlib
import io
import pathlib
import tokenize

import numpy as np
import pytest
import torch

from lecturelib import charrnn as cr

ROOT = pathlib.Path(__file__).resolve().parents[1]


def marks(text: str, feature: str) -> str:
    """One digit per character of `text`: the feature's value (0/1 for strings and comments)."""
    return "".join(str(int(v)) for v in cr.python_features(text)[feature])


def test_python_features_known_answer():
    t = 'x = f(a, [1, "(s)"])  # c(\n    y\n'
    f = cr.python_features(t)
    assert marks(t, "inside a string") == "0" * 13 + "11111" + "0" * 15
    assert marks(t, "inside a comment") == "0" * 22 + "1111" + "0" * 7
    assert marks(t, "bracket depth") == "000000111122222222100000000000000"
    assert list(f["position in line"][-6:]) == [0, 1, 2, 3, 4, 5]
    assert list(f["indentation"][-6:]) == [4] * 6 and f["indentation"][0] == 0


def test_unclosed_one_quote_string_runs_to_the_end_of_its_line():
    """As Python reads it: the string stops at the newline ("unterminated string literal"), and the
    next line is code again."""
    t = 'x = "abc\ny = (1'
    assert marks(t, "inside a string") == "0000" + "1111" + "0" * 7
    assert marks(t, "bracket depth") == "0" * 14 + "1"
    assert marks("s = 'it''s\n", "inside a string") == "0000" + "1111" + "11" + "0"   # 'it', then 's unclosed
    assert marks('x = "a\\"b', "inside a string") == "0000" + "11111"                  # \" does not close it
    assert marks('x = "ab\\', "inside a string") == "0000" + "1111"                    # a last backslash
    assert marks("s = 'a\\\nb'\n", "inside a string") == "0000" + "111111" + "0"       # backslash-newline goes on


def test_unclosed_triple_quoted_string_runs_to_the_end_of_the_text():
    t = "s = '''a (b\n\nc"
    assert marks(t, "inside a string") == "0000" + "1" * 10
    assert marks(t, "bracket depth") == "0" * 14                    # a bracket in a string does not count
    assert marks("'''a\\'''b'''", "inside a string") == "1" * 12     # \''' does not close it
    assert marks('x = """a"" ', "inside a string") == "0000" + "1" * 7


def test_string_prefixes_of_any_case_but_not_the_end_of_a_name():
    assert marks('x = f"a{b}c\ny = 2\n', "inside a string") == "0000" + "1111111" + "0" * 7
    assert marks('x = rb"abc', "inside a string") == "0000" + "111111"
    assert marks("x = Rb'a', BR'''b", "inside a string") == "0000" + "11111" + "00" + "111111"
    assert marks('u"x" or"y"', "inside a string") == "1111" + "000" + "111"   # `or` is a word, not a prefix


def test_unfinished_comment_and_open_brackets():
    t = "x = (1,  # note ("
    assert marks(t, "inside a comment") == "0" * 9 + "1" * 8
    assert marks(t, "bracket depth") == "00000" + "1" * 12                # the ( in the comment does not count
    assert marks("if (a and\n", "bracket depth") == "0000111111"


def test_snippet_cut_inside_a_docstring_is_a_string_to_its_end():
    """What the cell explorer gets while a student types: all after an unclosed docstring is string."""
    t = 'def f(a):\n    """Copy (a tree\n\n    ) of files'
    start = t.index('"""')
    assert marks(t, "inside a string") == "0" * start + "1" * (len(t) - start)
    assert marks(t, "bracket depth") == "000000" + "1" + "0" * (len(t) - 7)


def tokenizer_labels(text: str) -> dict:
    """Strings, comments and bracket depth as Python's own tokenizer reports them, for complete code
    (Python ≥ 3.12 splits an f-string into FSTRING_START … FSTRING_END: the whole is one string)."""
    starts = np.cumsum([0] + [len(line) for line in text.splitlines(keepends=True)])
    string, comment, step, fstrings = np.zeros(len(text)), np.zeros(len(text)), np.zeros(len(text) + 1), []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        a, b = (int(starts[min(row - 1, len(starts) - 1)] + col) for row, col in (tok.start, tok.end))
        kind = tokenize.tok_name[tok.type]
        if kind == "FSTRING_START":
            fstrings.append(a)
        elif kind == "FSTRING_END":
            string[fstrings.pop():b] = 1
        elif fstrings:
            continue  # the inside of an f-string: part of the string
        elif kind in ("STRING", "COMMENT"):
            (string if kind == "STRING" else comment)[a:b] = 1
        elif kind == "OP" and tok.string in "([{":
            step[b] += 1
        elif kind == "OP" and tok.string in ")]}":
            step[a] -= 1
    return {"inside a string": string, "inside a comment": comment, "bracket depth": np.cumsum(step)[:-1]}


def test_python_features_agree_with_pythons_tokenizer_on_complete_code():
    text = cr.heldout_text()  # 157,038 characters of the standard library, whole modules
    features = cr.python_features(text)
    for name, labels in tokenizer_labels(text).items():
        wrong = np.flatnonzero(features[name] != labels)
        assert len(wrong) == 0, (name, len(wrong), text[max(0, wrong[0] - 80):wrong[0] + 40] if len(wrong) else "")


def test_clean_cut_ends_before_a_top_level_def_where_the_tokenizer_finishes():
    text = cr.heldout_text()
    assert text[:20000].count('"""') % 2 == 1  # 20,000 characters end inside a docstring
    for n in (3000, 20000, 45000):
        cut = cr.clean_cut(text, n)
        assert len(cut) <= n and text.startswith(cut) and cut.endswith("\n")
        assert text[len(cut):].startswith(("def ", "class "))
        list(tokenize.generate_tokens(io.StringIO(cut).readline))  # finishes: nothing is cut open
    assert len(cr.clean_cut(text, 45000)) == 44162 and len(cr.clean_cut(text, 20000)) == 18238
    with pytest.raises(ValueError, match="no top-level def"):
        cr.clean_cut("x = 1\ndef f(): pass\n", 3)


def test_correlations_known_answer():
    rng = np.random.default_rng(0)
    feature = rng.normal(size=500)
    units = np.stack([feature, -2 * feature + 1, rng.normal(size=500), np.ones(500)], 1)
    r = cr.correlations(units, {"f": feature})["f"]
    assert np.allclose(r[:2], [1, -1]) and abs(r[2]) < 0.2 and r[3] == 0


def test_states_equal_the_lstm_run_on_the_whole_text():
    net = cr.build(seed=3)
    text = "def f(x):\n    return x\n"
    s = cr.states(net, text)
    with torch.no_grad():
        h, (h_last, c_last) = net.lstm(net.embed(cr.encode(text))[None])
    assert s["hidden"].shape == s["cell"].shape == (len(text), cr.HIDDEN)
    assert np.allclose(s["hidden"], h[0].numpy(), atol=1e-5) and np.allclose(s["cell"][-1], c_last[0, 0], atol=1e-5)
    pieces = cr.states(net, text, chunk=7)  # the state carried from piece to piece
    assert all(np.allclose(pieces[k], s[k], atol=1e-5) for k in ("hidden", "cell"))
    assert cr.states(net, "")["cell"].shape == (0, cr.HIDDEN)


def test_colored_text_html_and_errors():
    c = cr.colored_text("a<b\n", [1.0, -1.0, 0.0, 0.5])
    assert c.html.count("<span") == 4 and "&lt;" in c.html and "rgb(255,0,0)" in c.html and "rgb(0,0,255)" in c.html
    with pytest.raises(ValueError, match="4 characters but 3 values"):
        cr.colored_text("abcd", [1, 2, 3])


def test_sample_is_seeded_and_temperature_checked():
    net = cr.build()
    assert cr.sample(net, "def ", 50, seed=1) == cr.sample(net, "def ", 50, seed=1)
    assert len(cr.sample(net, "def ", 50)) == 54
    with pytest.raises(ValueError, match="temperature"):
        cr.sample(net, temperature=0)


def test_corpus_snapshot_checksums_and_heldout_tail():
    sums = (ROOT / "data" / "charrnn" / "SHA256SUMS").read_text().splitlines()
    for line in sums:
        digest, rel = line.split()
        assert hashlib.sha256((ROOT / rel).read_bytes()).hexdigest() == digest, rel
    assert cr.corpus_text().endswith(cr.heldout_text()) and (ROOT / "data" / "charrnn" / "LICENSE-PSF.txt").exists()


def test_shipped_charrnn_is_small_and_trained():
    assert cr.weights_file().stat().st_size < 3_000_000
    text = cr.heldout_text()[:5000]
    assert cr.bits_per_char(cr.load(), text) < 2.2 < cr.bits_per_char(cr.build(), text)

"""A character-level LSTM on Python source, and what its single cells track.

Karpathy, Johnson & Fei-Fei, "Visualizing and Understanding Recurrent Networks" (2015) found LSTM
cells that switch on inside quotes, count the position in a line or track the depth of nested
brackets, in a character model of source code. This module gives the lecture the pieces:

    net = load()                                   # the trained course model (shipped weights)
    text = heldout_text()                          # Python source the model never trained on
    text = clean_cut(text, 45000)                  # ... ending where no string, comment or bracket is cut
    s = states(net, text)                          # {"cell": T x H, "hidden": T x H}
    f = python_features(text)                      # what the language says about each character
    r = correlations(s["cell"], f)                 # {feature: H correlations}
    colored_text(text, s["cell"][:, unit])         # each character on its cell's colour

The corpus is a fixed snapshot of the standard library (data/charrnn, made by tools/make_corpus.py);
`python -m lecturelib train charrnn` reproduces the weights from it.
"""
from __future__ import annotations

import contextlib
import html
import io
import math
import re
import time
import tokenize
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["VOCAB", "FEATURES", "CharLSTM", "build", "load", "weights_file", "heldout_text", "clean_cut",
           "corpus_text", "encode", "states", "sample", "python_features", "correlations", "colored_text",
           "ColoredText", "bits_per_char", "train"]

VOCAB = "\n" + "".join(chr(i) for i in range(32, 127))   # newline and printable ASCII: 96 symbols
_INDEX = {ch: i for i, ch in enumerate(VOCAB)}
HIDDEN, EMBED = 256, 64
# Training: Adam on 32 contiguous streams of the corpus, 200 characters per step, the state carried
# from one step to the next (truncated backpropagation through time, as Karpathy's char-rnn), gradient
# norm clipped at 1. Carrying the state matters: from random windows that each start from a zero
# state, the network never learns to remember "inside a docstring" over hundreds of characters.
STEPS, BATCH, LENGTH, LR = 6000, 32, 200, 3e-3


class CharLSTM(nn.Module):
    """Embedding -> one LSTM layer -> linear scores for the next character.

    Parameters
    ----------
    vocab, embed, hidden : int
        The number of symbols, and the sizes of the character embedding and of the LSTM state.
    """

    def __init__(self, vocab: int = len(VOCAB), embed: int = EMBED, hidden: int = HIDDEN):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, idx: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Scores for the next character after each of `idx` (N x T character indices), from
        `state` (h, c), each 1 x N x hidden (None: zeros).

        Returns
        -------
        (tensor N x T x vocab of scores, (h, c) after the last step)
        """
        h, state = self.lstm(self.embed(idx), state)
        return self.out(h), state


def build(seed: int = 0) -> CharLSTM:
    """An untrained CharLSTM (eval mode, frozen) with random weights seeded by `seed`: the
    sanity-check baseline. Torch's global generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CharLSTM().eval().requires_grad_(False)


def weights_file() -> Path:
    """The path of the shipped weights (inside the package)."""
    return Path(str(resources.files("lecturelib") / "weights" / "charrnn.pt"))


def load() -> CharLSTM:
    """The trained course model (on the CPU, eval mode, frozen).

    Returns
    -------
    CharLSTM

    Raises
    ------
    FileNotFoundError
        If the weights file is missing.
    """
    path = weights_file()
    if not path.exists():
        raise FileNotFoundError(f"charrnn weights {path} are missing; run: python -m lecturelib train charrnn")
    net = CharLSTM()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().requires_grad_(False)


def heldout_text() -> str:
    """The held-out Python source (the corpus's last modules), shipped with the package."""
    return (resources.files("lecturelib") / "weights" / "charrnn_heldout.txt").read_text()


def clean_cut(text: str, n: int) -> str:
    """The longest start of `text`, at most `n` characters, that cuts no string, comment or bracket.

    The piece ends just before a top-level `def` or `class` line and Python's tokenizer reads it
    to the end, so every character keeps the label it has in the whole file.

    Raises
    ------
    ValueError
        If no such piece exists within the first `n` characters.
    """
    for m in reversed(list(re.finditer(r"\n(?=def |class )", text[:n]))):
        piece = text[:m.start() + 1]
        try:
            list(tokenize.generate_tokens(io.StringIO(piece).readline))
            return piece
        except (tokenize.TokenError, SyntaxError):
            continue  # such a line inside a docstring: cut earlier
    raise ValueError(f"no top-level def or class line ends a clean piece of the first {n} characters")


def corpus_text() -> str:
    """The whole training corpus, from the repository's data/charrnn (not in the installed package).

    Raises
    ------
    FileNotFoundError
        Outside a clone of the course repository.
    """
    path = Path(__file__).resolve().parents[1] / "data" / "charrnn" / "corpus.txt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the corpus is part of the course repository, not of the "
                                f"installed package; clone the repository to train charrnn")
    return path.read_text()


def encode(text: str) -> torch.Tensor:
    """Character indices of `text`, an int64 tensor of length T; a character outside VOCAB (tab,
    non-ASCII) becomes a space."""
    return torch.tensor([_INDEX.get(ch, _INDEX[" "]) for ch in text], dtype=torch.long)


@contextlib.contextmanager
def _one_thread():
    """For the LSTM reading a text: thousands of small steps, each waiting for the last, which more
    threads do not speed up (on a busy machine they slow it down). Restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def states(net: CharLSTM, text: str, chunk: int = 2000) -> dict:
    """The LSTM's hidden and cell state after each character of `text`, from a zero state.

    PyTorch's LSTM gives every h_t in one call; the gates follow from x_t and h_(t-1), and from
    them c_t = f * c_(t-1) + i * g (elementwise), step by step. The text goes in pieces of `chunk`
    characters, the state carried across, so memory stays small.

    Returns
    -------
    dict
        {"hidden": T x H, "cell": T x H} float32 numpy arrays; row t is the state after text[t].
    """
    lstm, size = net.lstm, net.lstm.hidden_size
    w_ih, w_hh, b = lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0
    hidden, cell = np.zeros((len(text), size), np.float32), np.zeros((len(text), size), np.float32)
    h, c = torch.zeros(size), np.zeros(size, np.float32)
    for start in range(0, len(text), chunk):
        x = net.embed(encode(text[start:start + chunk]))                       # T x E
        with _one_thread():
            hs = lstm(x[None], (h[None, None], torch.from_numpy(c)[None, None]))[0][0]   # T x H
        h_before = torch.cat([h[None], hs[:-1]])                               # h_(t-1)
        i, f, g, _ = (x @ w_ih.T + h_before @ w_hh.T + b).chunk(4, 1)          # PyTorch's order: i, f, g, o
        keep, add = torch.sigmoid(f).numpy(), (torch.sigmoid(i) * torch.tanh(g)).numpy()
        for t in range(len(x)):
            c = cell[start + t] = keep[t] * c + add[t]
        hidden[start:start + len(x)], h = hs.numpy(), hs[-1]
    return {"hidden": hidden, "cell": cell}


@torch.no_grad()
def sample(net: CharLSTM, prime: str = "def ", n: int = 300, temperature: float = 0.7, seed: int = 0) -> str:
    """`prime` followed by `n` characters drawn from the model, one at a time.

    Parameters
    ----------
    temperature : float > 0
        Divides the scores before softmax (smaller: more conservative).
    seed : int
        Seeds the draws (nothing global is touched).

    Raises
    ------
    ValueError
        If `temperature` is not > 0.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (smaller: more conservative); got {temperature}")
    gen = torch.Generator().manual_seed(seed)
    scores, state = net(encode(prime)[None])
    out = []
    for _ in range(n):
        p = torch.softmax(scores[0, -1] / temperature, 0)
        nxt = int(torch.multinomial(p, 1, generator=gen))
        out.append(VOCAB[nxt])
        scores, state = net(torch.tensor([[nxt]]), state)
    return prime + "".join(out)


@torch.no_grad()
def bits_per_char(net: CharLSTM, text: str, chunk: int = 2000) -> float:
    """Mean -log2 p(next character) over `text` (at least 2 characters), read in pieces of
    `chunk` characters with the state carried across.

    Returns
    -------
    float
        Bits per character.
    """
    idx, state, total = encode(text), None, 0.0
    with _one_thread():
        for s in range(0, len(idx) - 1, chunk):
            x, y = idx[s:s + chunk][None], idx[s + 1:s + chunk + 1][None]
            scores, state = net(x[:, :y.shape[1]], state)
            total += float(nn.functional.cross_entropy(scores[0], y[0], reduction="sum"))
    return total / (len(idx) - 1) / math.log(2)


# ------------------------------------------------------------------------------------ ground truth
FEATURES = ("inside a string", "inside a comment", "position in line", "indentation", "bracket depth")


# Python's rules for strings and comments, as a reader applies them to a text that may be unfinished.
# A comment runs to the end of its line. A string: an optional prefix (r, b, u, f or a pair of them,
# any case, not the end of a name), three quotes or one, then up to the same quotes again; a backslash
# escapes the next character, a newline too. A string not closed yet runs to the end of the text if
# triple-quoted, else to the end of its line (where Python ends it too: "unterminated string literal").
_STRING_OR_COMMENT = re.compile(r"""
    (?P<comment> \# [^\n]* )
  | (?P<string> (?: (?<!\w) (?i: rb|br|rf|fr|r|b|u|f ) )?
      (?: \"\"\" (?: \\. | [^\\] )*? (?: \"\"\" | \\?\Z )
        | '''    (?: \\. | [^\\] )*? (?: '''    | \\?\Z )
        | "      (?: \\. | [^\\\n"] )* (?: " | \\?$ )
        | '      (?: \\. | [^\\\n'] )* (?: ' | \\?$ ) ) )
""", re.VERBOSE | re.DOTALL | re.MULTILINE)


def python_features(text: str) -> dict:
    """What the language says about each character of `text` (not the model), for FEATURES.

    Strings and comments include their quotes and #; bracket depth counts ( [ { outside them;
    indentation is the number of spaces that start the line; position in line counts from 0. On
    complete code these are the labels of Python's own tokenizer (the tests check it); an unfinished
    snippet is read as a person reads it (an unclosed triple-quoted string runs to the end of the
    text, a one-quote string or a comment to the end of its line; open brackets stay open).

    Returns
    -------
    dict of str to numpy array
        {feature: float array of len(text)} for each name in FEATURES.
    """
    n = len(text)
    string, comment, step = np.zeros(n), np.zeros(n), np.zeros(n + 1)
    for m in _STRING_OR_COMMENT.finditer(text):
        (string if m.lastgroup == "string" else comment)[m.start():m.end()] = 1
    for i, ch in enumerate(text):
        if string[i] or comment[i]:
            continue
        if ch in "([{":
            step[i + 1] += 1  # the opening bracket itself is still outside
        elif ch in ")]}":
            step[i] -= 1      # the closing one is already outside
    column, indent = np.zeros(n), np.zeros(n)
    starts = np.cumsum([0] + [len(line) for line in text.splitlines(keepends=True)])
    for line_start, line_end in zip(starts[:-1], starts[1:]):
        line = text[line_start:line_end]
        column[line_start:line_end] = np.arange(len(line))
        indent[line_start:line_end] = len(line) - len(line.lstrip(" "))
    return dict(zip(FEATURES, (string, comment, column, indent, np.cumsum(step)[:n])))


def correlations(values: np.ndarray, features: dict) -> dict:
    """Pearson correlation of every unit (a column of the T x H `values`, from `states`) with every
    feature ({name: array of T}, from `python_features`); one that never changes correlates 0.

    Returns
    -------
    dict of str to numpy array
        {feature: H correlations}.
    """
    v = values - values.mean(0)
    v_norm = np.sqrt((v ** 2).sum(0))
    out = {}
    for name, f in features.items():
        g = f - f.mean()
        denom = v_norm * np.sqrt((g ** 2).sum())
        out[name] = np.divide(g @ v, denom, out=np.zeros(v.shape[1]), where=denom > 0)
    return out


# ------------------------------------------------------------------------------------ colour
class ColoredText:
    """Text with each character on a background coloured by a value (blue -, white 0, red +).

    Displays in JupyterLab, Notebook and Colab, and survives a static HTML export.

    Parameters
    ----------
    text, values, scale, title
        As in `colored_text`, which makes one (and raises the same ValueError).
    """

    def __init__(self, text: str, values: ArrayLike, scale: float | None = None, title: str = ""):
        values = np.asarray(values, dtype=float)
        if len(values) != len(text):
            raise ValueError(f"{len(text)} characters but {len(values)} values")
        self.text, self.values, self.title = text, values, title
        self.scale = float(scale) if scale else float(np.abs(values).max() or 1.0)

    def _span(self, ch: str, v: float) -> str:
        t = max(-1.0, min(1.0, v / self.scale))
        r, g, b = (255, int(255 * (1 - t)), int(255 * (1 - t))) if t > 0 else (int(255 * (1 + t)),) * 2 + (255,)
        shown = html.escape(ch) if ch != "\n" else "↵\n"
        return f'<span style="background:rgb({r},{g},{b})">{shown}</span>'

    @property
    def html(self) -> str:
        """The coloured text as an HTML fragment (one span per character)."""
        body = "".join(self._span(ch, v) for ch, v in zip(self.text, self.values))
        head = f"<div><b>{html.escape(self.title)}</b></div>" if self.title else ""
        return (f'{head}<pre style="line-height:1.35;font-size:12px;color:#000;background:#fff;'
                f'white-space:pre;overflow-x:auto">{body}</pre>')

    def _repr_html_(self) -> str:
        return self.html


def colored_text(text: str, values: ArrayLike, scale: float | None = None, title: str = "") -> ColoredText:
    """`text` with each character on the colour of its value; the last line of a cell displays it.

    Parameters
    ----------
    text : str
    values : array-like, len(text)
        One value per character (e.g. one column of `states(...)["cell"]`).
    scale : float, optional
        The |value| drawn at full colour (None: the largest |value|).
    title : str
        A bold line above the text.

    Returns
    -------
    ColoredText

    Raises
    ------
    ValueError
        If there is not one value per character.
    """
    return ColoredText(text, values, scale, title)


# ------------------------------------------------------------------------------------ training
def _say(message: str) -> None:
    print(message, flush=True)  # progress shows at once, also when the output goes to a file


def train(out: Path | None = None, steps: int = STEPS, seed: int = 0,
          log: Callable[[str], None] = _say) -> float:
    """Train the course model on the corpus minus its held-out tail and save its weights.

    Parameters
    ----------
    out : Path, optional
        Where to save the state dict (None: the package's weights file).
    steps, seed : int
        Training steps (see STEPS, BATCH, LENGTH, LR), and the seed of torch's global generator.
    log : callable
        Receives a progress line every 250 steps and a summary at the end.

    Returns
    -------
    float
        Bits per character on the first 20,000 held-out characters.

    Raises
    ------
    FileNotFoundError, ValueError
        Outside a clone of the course repository (no corpus); a corpus not ending in the held-out text.
    """
    text, heldout = corpus_text(), heldout_text()
    if not text.endswith(heldout):
        raise ValueError("the held-out text is not the end of the corpus: rerun tools/make_corpus.py")
    data = encode(text[:len(text) - len(heldout)])
    streams = data[:len(data) // BATCH * BATCH].view(BATCH, -1)     # BATCH contiguous pieces of the corpus
    torch.manual_seed(seed)
    net = CharLSTM().train()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0, at, state = time.perf_counter(), 0, None
    for step in range(1, steps + 1):
        if at + LENGTH + 1 > streams.shape[1]:   # the end of the streams: start again from a zero state
            at, state = 0, None
        window = streams[:, at:at + LENGTH + 1]
        at += LENGTH
        scores, state = net(window[:, :-1], state)
        state = tuple(v.detach() for v in state)  # carry the state, not its history
        loss = nn.functional.cross_entropy(scores.reshape(-1, len(VOCAB)), window[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps:
            log(f"charrnn step {step}/{steps}: {float(loss.detach()) / math.log(2):.2f} bits/char (training batch), "
                f"{time.perf_counter() - t0:.0f} s")
    net.eval()
    bpc = bits_per_char(net, heldout[:20000])
    out = weights_file() if out is None else Path(out)
    torch.save(net.state_dict(), out)
    log(f"charrnn: held-out {bpc:.2f} bits per character in {time.perf_counter() - t0:.0f} s; saved {out} "
        f"({out.stat().st_size / 1024:.0f} KiB)")
    return bpc

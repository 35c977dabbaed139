"""CTC decoding: greedy, beam search, and beam search with a word n-gram LM.

Every decoder takes one utterance's log-probabilities ``(frames, vocab)`` and
returns ``(text, words)`` with word times in seconds. Beam search is
torchaudio's lexicon decoder (flashlight-text). Character models spell each
lexicon word with its letters; phone models (a vocabulary of ARPAbet phones)
with its CMU-dictionary pronunciations, so they need beam search to give
words. The default language model is the CMU en-US trigram shipped in the
``pocketsphinx`` wheel, queried in place through pocketsphinx's own n-gram code
(no conversion, nothing downloaded); a KenLM ``.arpa``/``.bin`` path works too.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from zoo.errors import ZooError
from zoo.results import Word

from . import cmudict

__all__ = ["BeamDecoder", "CTCVocab", "GreedyDecoder", "build_decoder"]

POCKETSPHINX_LM = "pocketsphinx-en-us"


@dataclass(frozen=True)
class CTCVocab:
    """A CTC model's output symbols: which id is blank and which marks word boundaries."""

    tokens: tuple[str, ...]
    blank: int
    delimiter: int | None

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], blank: str = "<pad>", delimiter: str = "|") -> CTCVocab:
        tokens = [""] * (max(vocab.values()) + 1)
        for tok, i in vocab.items():
            tokens[i] = tok
        if blank not in vocab:
            raise ZooError(f"the CTC vocabulary has no blank token {blank!r}")
        return cls(tuple(tokens), vocab[blank], vocab.get(delimiter))

    @functools.cached_property
    def units(self) -> str:
        """``phones`` when the regular tokens are ARPAbet phones (at least one two-letter), else ``chars``."""
        regular = [t for i, t in enumerate(self.tokens) if t and i != self.delimiter and not t.startswith("<")]
        phones = set(cmudict.PHONES)
        is_phones = regular and all(t in phones for t in regular) and any(len(t) == 2 for t in regular)
        return "phones" if is_phones else "chars"

    def char(self, i: int) -> str:
        """The text a token stands for: lower case; the delimiter is a space; specials are dropped."""
        if i == self.delimiter:
            return " "
        tok = self.tokens[i]
        if len(tok) != 1 and not (tok.startswith("<") and tok.endswith(">")):
            return tok.lower()
        return "" if tok.startswith("<") else tok.lower()


def words_from_frames(
    vocab: CTCVocab, tokens: Sequence[int], frames: Sequence[int], probs: torch.Tensor | None, frame_s: float
) -> tuple[str, list[Word]]:
    """Group emitted (token, frame) pairs into words with times and mean token probability."""
    words: list[Word] = []
    chars: list[str] = []
    span: list[int] = []
    scores: list[float] = []

    def flush() -> None:
        text = "".join(chars).strip()
        if text:
            score = sum(scores) / len(scores) if scores else None
            words.append(Word(text, round(span[0] * frame_s, 3), round((span[-1] + 1) * frame_s, 3), score))
        chars.clear()
        span.clear()
        scores.clear()

    last = (probs.shape[0] - 1) if probs is not None else None
    for tok, t in zip(tokens, frames):
        if last is not None:
            t = min(int(t), last)  # flashlight may stamp the final token one step past the end
        c = vocab.char(int(tok))
        if c == " " or c == "":
            flush()
            continue
        chars.append(c)
        span.append(int(t))
        if probs is not None:
            scores.append(float(probs[int(t), int(tok)]))
    flush()
    return " ".join(w.text for w in words), words


class GreedyDecoder:
    """Best token per frame, repeats collapsed, blanks removed."""

    def __init__(self, vocab: CTCVocab) -> None:
        self.vocab = vocab

    def __call__(self, log_probs: torch.Tensor, frame_s: float) -> tuple[str, list[Word]]:
        if log_probs.shape[0] == 0:
            return "", []
        best = log_probs.argmax(-1)
        keep = torch.ones_like(best, dtype=torch.bool)
        keep[1:] = best[1:] != best[:-1]
        keep &= best != self.vocab.blank
        frames = keep.nonzero().flatten().tolist()
        return words_from_frames(self.vocab, best[frames].tolist(), frames, log_probs.float().exp(), frame_s)


def words_from_hypothesis(
    vocab: CTCVocab,
    hyp_words: Sequence[str],
    tokens: Sequence[int],
    frames: Sequence[int],
    probs: torch.Tensor,
    frame_s: float,
) -> tuple[str, list[Word]]:
    """A lexicon beam-search hypothesis's words, timed by their token spans (phone models spell no text)."""
    _, spans = words_from_frames(vocab, tokens, frames, probs, frame_s)
    if len(spans) < len(hyp_words):  # every lexicon spelling ends in the delimiter, so this is a bug
        raise ZooError(f"beam search returned {len(hyp_words)} words but {len(spans)} token spans")
    # a trailing unfinished spelling is not a word
    words = [dataclasses.replace(span, text=word) for word, span in zip(hyp_words, spans)]
    return " ".join(w.text for w in words), words


class BeamDecoder:
    """Lexicon-constrained CTC beam search (torchaudio / flashlight-text), optionally with a word LM."""

    def __init__(
        self,
        vocab: CTCVocab,
        lexicon_words: Sequence[str],
        lm: str | None = None,
        beam_size: int = 32,
        lm_weight: float = 0.8,
        word_score: float = 0.0,
        unk_score: float = -math.inf,
        cache_dir: Path | None = None,
    ) -> None:
        try:
            import flashlight.lib.text.decoder  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ZooError(f"beam search needs flashlight-text: pip install flashlight-text ({exc})") from exc
        if vocab.delimiter is None:
            raise ZooError("beam search needs a word delimiter token ('|') in the CTC vocabulary")
        self.vocab = vocab
        # flashlight needs unique token strings; empty/special slots get placeholders
        self.token_names = [t if t else f"<tok{i}>" for i, t in enumerate(vocab.tokens)]
        sil = self.token_names[vocab.delimiter]
        if vocab.units == "phones":
            prons = cmudict.pronunciations()
            words = sorted({w for w in lexicon_words if w in prons})
            lexicon = cap_homophones({w: [[*p, sil] for p in prons[w]] for w in words})
        else:
            spell = {vocab.char(i): self.token_names[i] for i in range(len(vocab.tokens)) if len(vocab.char(i)) == 1}
            words = sorted({w for w in lexicon_words if w and all(c in spell for c in w)})
            lexicon = {w: [[*(spell[c] for c in w), sil]] for w in words}
        lexicon["<unk>"] = []  # flashlight's word dictionaries always hold the unknown word
        self._decoder = _lexicon_decoder(
            lexicon,
            self.token_names,
            lm,
            beam_size=beam_size,
            lm_weight=lm_weight,
            word_score=word_score,
            unk_score=unk_score,
            blank_token=self.token_names[vocab.blank],
            sil_token=sil,
            cache_dir=cache_dir,
        )
        self._lock = threading.Lock()  # the flashlight decoder and the LM state table are not thread-safe

    def __call__(self, log_probs: torch.Tensor, frame_s: float) -> tuple[str, list[Word]]:
        if log_probs.shape[0] == 0:
            return "", []
        # CTC targets end without a word boundary, so the last word's spelling would stay open and
        # flashlight would drop it (or, for characters, never score it): one frame that is surely
        # the delimiter closes it
        close = torch.full((1, log_probs.shape[1]), -1e4)
        close[0, self.vocab.delimiter] = 0.0
        emissions = torch.cat([log_probs.float(), close]).contiguous().unsqueeze(0)
        with self._lock:
            hyps = self._decoder(emissions)
        if not hyps or not hyps[0]:
            return "", []
        best = hyps[0][0]
        # flashlight's path starts with one extra (start) step, so its timesteps run one frame late
        frames = [max(int(t) - 1, 0) for t in best.timesteps.tolist()]
        tokens, probs = best.tokens.tolist(), log_probs.float().exp()
        if self.vocab.units == "phones":
            return words_from_hypothesis(self.vocab, best.words, tokens, frames, probs, frame_s)
        return words_from_frames(self.vocab, tokens, frames, probs, frame_s)


#: flashlight's lexicon trie keeps at most this many words per spelling
TRIE_WORDS_PER_NODE = 6


def cap_homophones(lexicon: dict[str, list[list[str]]], limit: int = TRIE_WORDS_PER_NODE) -> dict:
    """Keep at most ``limit`` words per spelling (phone models: homophones), the most frequent first.

    flashlight drops the surplus itself, arbitrarily and with a warning per
    node; ranking by the pocketsphinx unigram keeps the words an English
    speaker is likelier to have said (``to``/``two``/``too`` over rare names).
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for word, spellings in lexicon.items():
        for spelling in spellings:
            groups.setdefault(tuple(spelling), []).append(word)
    if all(len(ws) <= limit for ws in groups.values()):
        return lexicon
    try:
        unigram = pocketsphinx_ngram()
        rank = lambda w: (-unigram.prob([w]), w)  # noqa: E731
    except ZooError:  # no pocketsphinx: alphabetical, but deterministic
        rank = lambda w: (0, w)  # noqa: E731
    kept: dict[str, list[list[str]]] = {}
    for spelling, words in groups.items():
        for word in sorted(words, key=rank)[:limit]:
            kept.setdefault(word, []).append(list(spelling))
    return kept


def _lexicon_decoder(lexicon: dict, tokens: list[str], lm: str | None, *, cache_dir: Path | None, **options):
    """torchaudio's lexicon CTC decoder, built from an in-memory lexicon.

    ``ctc_decoder()`` only takes a lexicon file and parses it again for every
    dictionary it builds (seconds for a 70k-word lexicon), so this builds the
    word dictionary once and hands it to both the LM and the decoder.
    """
    from torchaudio.models.decoder import _ctc_decoder as tad

    try:
        tokens_dict = tad._Dictionary(tokens)
        word_dict = tad._create_word_dict(lexicon)
        decoder_options = tad._LexiconDecoderOptions(
            beam_size=options["beam_size"],
            beam_size_token=tokens_dict.index_size(),
            beam_threshold=50.0,
            lm_weight=options["lm_weight"],
            word_score=options["word_score"],
            unk_score=options["unk_score"],
            sil_score=0.0,
            log_add=False,
            criterion_type=tad._CriterionType.CTC,
        )
    except AttributeError:  # torchaudio internals moved: take the public (slower) route
        return tad.ctc_decoder(
            lexicon=str(_write_lexicon(lexicon, cache_dir)),
            tokens=tokens,
            lm=PocketsphinxLM.from_lexicon_file(_write_lexicon(lexicon, cache_dir)) if lm == POCKETSPHINX_LM else lm,
            **options,
        )
    if lm == POCKETSPHINX_LM:
        lm_obj = PocketsphinxLM(word_dict)
    elif lm:
        lm_obj = tad._KenLM(str(lm), word_dict)
    else:
        lm_obj = tad._ZeroLM()
    return tad.CTCDecoder(
        nbest=1,
        lexicon=lexicon,
        word_dict=word_dict,
        tokens_dict=tokens_dict,
        lm=lm_obj,
        decoder_options=decoder_options,
        blank_token=options["blank_token"],
        sil_token=options["sil_token"],
        unk_word="<unk>",
    )


def _write_lexicon(lexicon: dict, cache_dir: Path | None) -> Path:
    """A flashlight lexicon file (``word<TAB>t o k e n s``), cached by content."""
    body = "".join(f"{w}\t{' '.join(sp[0])}\n" for w, sp in lexicon.items() if sp)
    digest = hashlib.sha1(body.encode()).hexdigest()[:16]
    from zoo.weights import cache_root

    folder = Path(cache_dir) if cache_dir else cache_root() / "asr"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lexicon-{digest}.txt"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(body)
        tmp.replace(path)
    return path


# ------------------------------------------------------------------ the pocketsphinx LM
_NGRAM = None
_NGRAM_LOCK = threading.Lock()
#: pocketsphinx scores are logarithms to base 1.0001
_LOG_BASE = math.log(1.0001)
_LOG_ZERO = -5e8
#: natural-log probability given to a lexicon word the LM does not know
OOV_LOGPROB = -14.0


def pocketsphinx_ngram():
    """The CMU en-US trigram from the pocketsphinx wheel (loaded once per process, ~7 s)."""
    global _NGRAM
    with _NGRAM_LOCK:
        if _NGRAM is None:
            try:
                import pocketsphinx
            except ImportError as exc:
                raise ZooError(
                    "the default ASR language model comes with pocketsphinx: pip install pocketsphinx, "
                    "or load with decoder='beam' (no LM) or decoder='greedy'"
                ) from exc
            path = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us.lm.bin"
            pocketsphinx.set_loglevel("ERROR")
            _NGRAM = pocketsphinx.NGramModel.readfile(str(path))
        return _NGRAM


def lm_logprob(words: Sequence[str]) -> float:
    """Natural-log P(words[-1] | words[:-1]) under the pocketsphinx trigram (OOV: a floor)."""
    return _natural_log(pocketsphinx_ngram().prob(list(reversed(words))))


def _natural_log(raw: int) -> float:
    """A pocketsphinx score (log base 1.0001) as a natural log; unknown words get :data:`OOV_LOGPROB`."""
    return OOV_LOGPROB if raw <= _LOG_ZERO else raw * _LOG_BASE


def pocketsphinx_vocabulary(candidates: Sequence[str]) -> list[str]:
    """The candidate words the pocketsphinx LM knows."""
    m = pocketsphinx_ngram()
    return [w for w in candidates if m.prob([w]) > _LOG_ZERO]


def _lm_base():
    from torchaudio.models.decoder import CTCDecoderLM

    return CTCDecoderLM


class PocketsphinxLM(_lm_base()):  # type: ignore[misc]
    """A torchaudio ``CTCDecoderLM`` scoring words with the pocketsphinx trigram."""

    def __init__(self, word_dict) -> None:
        super().__init__()
        self.word_dict = word_dict
        self.model = pocketsphinx_ngram()
        self.history: dict = {}
        self.cache: dict = {}

    @classmethod
    def from_lexicon_file(cls, path: Path) -> PocketsphinxLM:
        from flashlight.lib.text.dictionary import create_word_dict, load_words

        return cls(create_word_dict(load_words(str(path))))

    def _word(self, idx: int) -> str:
        return self.word_dict.get_entry(idx)

    def start(self, start_with_nothing: bool = False):
        from torchaudio.models.decoder import CTCDecoderLMState

        self.history.clear()
        state = CTCDecoderLMState()
        self.history[state] = ("<s>",)
        return state

    def _score(self, hist: tuple[str, ...], word: str) -> float:
        key = (*hist, word)
        value = self.cache.get(key)
        if value is None:
            value = _natural_log(self.model.prob([word, *reversed(hist)]))
            if len(self.cache) > 1_000_000:
                self.cache.clear()
            self.cache[key] = value
        return value

    def score(self, state, usr_token_idx: int):
        hist = self.history[state]
        word = self._word(usr_token_idx)
        child = state.child(usr_token_idx)
        if child not in self.history:
            self.history[child] = (*hist, word)[-2:]
        return child, self._score(hist, word)

    def finish(self, state):
        hist = self.history[state]
        child = state.child(-1)
        self.history.setdefault(child, hist)
        return child, self._score(hist, "</s>")


def build_decoder(kind: str, vocab: CTCVocab, params: dict, extra_words: Sequence[str] = ()):
    """``kind``: ``greedy``, ``beam`` (lexicon, no LM) or ``beam-lm`` (lexicon + word LM)."""
    if kind == "greedy" and vocab.units == "phones":
        raise ZooError("this CTC model outputs phones, which greedy decoding cannot spell: use 'beam' or 'beam-lm'")
    if kind == "greedy":
        return GreedyDecoder(vocab)
    if kind not in ("beam", "beam-lm"):
        raise ZooError(f"unknown CTC decoder {kind!r}; use 'greedy', 'beam' or 'beam-lm'")
    lm = params.get("lm", POCKETSPHINX_LM) if kind == "beam-lm" else None
    words = list(extra_words)
    if lm == POCKETSPHINX_LM or (kind == "beam" and params.get("lexicon", POCKETSPHINX_LM) == POCKETSPHINX_LM):
        words += pocketsphinx_vocabulary(cmudict.words())
    return BeamDecoder(
        vocab,
        words,
        lm=lm,
        beam_size=int(params.get("beam_size", 32)),
        lm_weight=float(params.get("lm_weight", 0.8)),
        word_score=float(params.get("word_score", 0.0)),
        unk_score=float(params.get("unk_score", -math.inf)),
    )

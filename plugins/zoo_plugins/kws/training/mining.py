"""Real words cut out of read speech, for keyword-spotting training.

Speech Commands has only a few dozen keyword speakers in ``speech-commands-dev``;
transcribed read speech (``speechocean762-train``: 125 speakers, ``cathy``) says
"on", "no", "go", "up", "right"... many times over. The zoo's own CTC model
force-aligns each transcript (through ``zoo.load`` and the speech-recognition
task's ``align``; the transcripts come from the ``transcribed-speech`` dataset), and every word
that aligns plausibly becomes a clip: keywords for their class, other words
for ``_unknown_``. Plausible means 0.08-0.9 s long and as loud as speech
(within 25 dB of the utterance's loudest frame), which rejects words the
aligner placed in leading silence.

The index (file, word, start, end) is cached per corpus and ASR checkpoint;
clips are cut when the recipe loads them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo import audio as zaudio

SR = 16000
#: seconds of context kept before and after an aligned word (CTC spikes sit inside the word)
PAD_BEFORE, PAD_AFTER = 0.12, 0.15
MIN_WORD_S, MAX_WORD_S = 0.08, 0.9
#: a word quieter than the utterance's loudest 30 ms frame by more than this is an alignment into silence
MAX_DROP_DB = 25.0
#: words this short in letters are too generic to teach `_unknown_` much ("a", "of")
MIN_UNKNOWN_LETTERS = 3

__all__ = ["MinedWord", "cut", "filter_by_teacher", "mine", "mined_pools"]


MinedWord = dict  # {"path", "word", "start_s", "end_s", "score", "speaker"}


def mine(corpora: Sequence[Path], asr_checkpoint: Path, cache_dir: Path) -> list[MinedWord]:
    """Aligned words from every transcribed corpus folder that exists (cached)."""
    import zoo

    read_corpus = zoo.get_zoo().datasets["transcribed-speech"].obj
    found = [Path(c) for c in corpora if (Path(c) / "transcripts.tsv").exists() or any(Path(c).rglob("*.trans.txt"))]
    if not found:
        return []
    weights = Path(asr_checkpoint) / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    out: list[MinedWord] = []
    model = None
    for corpus in found:
        index = Path(cache_dir) / f"mined-{corpus.name}-{digest}.json"
        if index.exists():
            out += json.loads(index.read_text())
            continue
        if model is None:
            model = _load_model(asr_checkpoint)
        rows = _align(model, read_corpus(corpus))
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(json.dumps(rows))
        out += rows
    return out


def _load_model(checkpoint: Path):
    """The CTC model of ``checkpoint`` (character or phone units), loaded like the zoo's ASR model.

    Only its log-probabilities are used (forced alignment needs no decoder), but
    a phone model cannot be built with greedy decoding, so it gets lexicon beam search.
    """
    import dataclasses

    import zoo

    card = dataclasses.replace(zoo.info("asr-wav2vec2-bert"), weights={"path": str(checkpoint)})
    return zoo.from_card(card, device="cpu", decoder="beam")


def _align(model, utterances) -> list[MinedWord]:
    from tqdm.auto import tqdm

    rows: list[MinedWord] = []
    aligned = model.task.align(model, utterances)
    for utt, words in tqdm(aligned, total=len(utterances), desc="aligning words", unit="utt"):
        for w in words:
            if MIN_WORD_S <= w.end_s - w.start_s <= MAX_WORD_S:
                rows.append(
                    {
                        "path": utt.path,
                        "speaker": utt.speaker,
                        "word": w.text,
                        "start_s": w.start_s,
                        "end_s": w.end_s,
                        "score": w.score,
                    }
                )
    return rows


def cut(wav: torch.Tensor, start_s: float, end_s: float, utterance_db: float | None = None) -> torch.Tensor | None:
    """The word with some context and 15 ms fades; None when it is much quieter than the utterance's speech.

    ``utterance_db`` is ``zaudio.peak_db(wav, SR)``; pass it when cutting many words from one file.
    """
    a = max(0, int((start_s - PAD_BEFORE) * SR))
    b = min(wav.numel(), int((end_s + PAD_AFTER) * SR), a + SR)
    if b - a < int(MIN_WORD_S * SR):
        return None
    word_db = zaudio.peak_db(wav[int(start_s * SR) : max(int(end_s * SR), int(start_s * SR) + 1)], SR)
    if utterance_db is None:
        utterance_db = zaudio.peak_db(wav, SR)
    if word_db < utterance_db - MAX_DROP_DB:
        return None
    clip = wav[a:b].clone()
    fade = min(int(0.015 * SR), clip.numel() // 4)
    if fade:
        ramp = torch.linspace(0.0, 1.0, fade)
        clip[:fade] *= ramp
        clip[-fade:] *= ramp.flip(0)
    return clip


def mined_pools(
    rows: Sequence[MinedWord], keywords: Sequence[str], max_unknown: int, seed: int
) -> dict[str, list[torch.Tensor]]:
    """``{keyword: [clip...], "_unknown_": [clip...]}`` cut from the mined rows."""
    import random

    keep = [r for r in rows if r["word"] in keywords]
    others = [r for r in rows if r["word"] not in keywords and len(r["word"]) >= MIN_UNKNOWN_LETTERS]
    random.Random(seed).shuffle(others)
    keep += others[:max_unknown]
    pools: dict[str, list[torch.Tensor]] = {k: [] for k in (*keywords, "_unknown_")}
    by_file: dict[str, list[MinedWord]] = {}
    for r in keep:
        by_file.setdefault(r["path"], []).append(r)
    for path, words in by_file.items():
        try:
            wav = zaudio.load(path, SR).mono()
        except Exception:  # noqa: BLE001 - a file that vanished since mining is skipped
            continue
        level = zaudio.peak_db(wav, SR)
        for r in words:
            clip = cut(wav, r["start_s"], r["end_s"], level)
            if clip is not None:
                pools[r["word"] if r["word"] in keywords else "_unknown_"].append(clip)
    return pools


def filter_by_teacher(pools: dict[str, list[torch.Tensor]], teacher: str) -> dict[str, list[torch.Tensor]]:
    """Keep the clips that zoo model ``teacher`` labels as their mined class.

    Aligned words from running speech carry fragments of their neighbours, and
    some are misaligned; a keyword spotter trained on other data is a cheap
    check that the clip still sounds like its label.
    """
    import zoo

    model = zoo.load(teacher, device="cpu")
    out: dict[str, list[torch.Tensor]] = {}
    for label, clips in pools.items():
        results = model([(c.numpy(), SR) for c in clips], progress=len(clips) >= 64) if clips else []
        out[label] = [c for c, r in zip(clips, results) if r.ok and r.label == label]
    return out

"""Transcribed speech corpora for training and scoring speech recognition.

Two layouts are read, so any corpus laid out the same way works:

- **transcripts.tsv**: a folder with ``transcripts.tsv`` (tab-separated, a header
  ``id<TAB>speaker<TAB>text``; the speaker column is optional) and the audio as
  ``<id>.<ext>`` in the folder or in ``audio/`` (any format soundfile reads);
- **LibriSpeech**: ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` lines
  ``<id> <TEXT>`` beside ``<id>.flac`` (or another extension).

Hold-out splits are by speaker (never by file), and for the single-speaker
``cathy`` corpus by prompt, so no held-out sentence is ever trained on.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ZooError
from zoo.splits import speaker_split

from .text import normalize

__all__ = [
    "AUDIO_EXTS",
    "Utterance",
    "arctic_split",
    "cathy_heldout",
    "download_librispeech",
    "librispeech_speakers_split",
    "speechocean_heldout",
    "read_corpus",
]

AUDIO_EXTS = (".flac", ".wav", ".ogg", ".opus", ".mp3")


@dataclass(frozen=True)
class Utterance:
    """One transcribed recording; ``text`` is normalised (see :mod:`.text`)."""

    path: str
    text: str
    speaker: str
    id: str


def read_corpus(root: str | Path) -> list[Utterance]:
    """Every transcribed utterance under ``root`` (transcripts.tsv or LibriSpeech layout)."""
    root = Path(root)
    if not root.is_dir():
        raise ZooError(f"{root} is not a folder; point to a corpus with transcripts.tsv or LibriSpeech *.trans.txt")
    if (root / "transcripts.tsv").exists():
        return _read_tsv(root)
    trans = sorted(root.rglob("*.trans.txt"))
    if trans:
        return _read_librispeech(trans)
    raise ZooError(
        f"{root} has neither transcripts.tsv nor LibriSpeech *.trans.txt files; "
        "lay it out as audio plus transcripts.tsv (id, speaker, text)"
    )


def _find_audio(folder: Path, utt_id: str) -> Path | None:
    for base in (folder, folder / "audio"):
        for ext in AUDIO_EXTS:
            p = base / f"{utt_id}{ext}"
            if p.exists():
                return p
    return None


def _read_tsv(root: Path) -> list[Utterance]:
    out = []
    with open(root / "transcripts.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    has_header = "id" in header and "text" in header
    col = {name: header.index(name) for name in header} if has_header else {"id": 0, "text": len(rows[0]) - 1}
    for row in rows[1:] if has_header else rows:
        if not row or len(row) <= col["text"]:
            continue
        utt_id = row[col["id"]].strip()
        path = _find_audio(root, utt_id)
        if path is None:
            continue
        speaker = row[col["speaker"]].strip() if "speaker" in col else root.name
        out.append(Utterance(str(path), normalize(row[col["text"]]), speaker, utt_id))
    return out


def _read_librispeech(trans_files: list[Path]) -> list[Utterance]:
    out = []
    for tf in trans_files:
        for line in tf.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utt_id, _, text = line.partition(" ")
            path = _find_audio(tf.parent, utt_id)
            if path is not None:
                out.append(Utterance(str(path), normalize(text), utt_id.split("-")[0], utt_id))
    return out


_ARCTIC = re.compile(r"arctic_([ab])(\d{4})")


def arctic_split(utts: list[Utterance], first_heldout_b: int = 440) -> tuple[list[Utterance], list[Utterance]]:
    """(train, held-out) for CMU ARCTIC prompts: ``arctic_b<first_heldout_b>`` and later are held out.

    Every take of a held-out prompt is held out, so the held-out sentences are unseen text.
    """
    train, held = [], []
    for u in utts:
        m = _ARCTIC.search(u.id)
        (held if m and m.group(1) == "b" and int(m.group(2)) >= first_heldout_b else train).append(u)
    return train, held


def librispeech_speakers_split(root: str | Path) -> tuple[list[Path], list[Path]]:
    """(train, held-out) audio of an untranscribed ``librispeech-speakers`` folder, split by speaker.

    Held out: every clip in a per-speaker folder (the test-other speakers) and
    every fifth ``train-clean`` speaker in sorted order; the rest is for
    training. The folder has no transcripts, so callers supply references.
    """
    root = Path(root)
    if not root.is_dir():
        raise ZooError(f"{root} is not a folder; point to librispeech-speakers/ (../shared/data has one)")
    train, held = [], []
    clean = sorted(p for d in root.glob("*train-clean*") for p in d.iterdir() if p.suffix in AUDIO_EXTS)
    for i, p in enumerate(clean):
        (held if i % 5 == 4 else train).append(p)
    for d in sorted(root.iterdir()):
        if d.is_dir() and "train-clean" not in d.name:
            held += sorted(p for p in d.iterdir() if p.suffix in AUDIO_EXTS)
    return train, held


#: the share of speechocean762-train speakers held out from training (the recipe's default)
HELDOUT_SPEAKERS = 0.15


def speechocean_heldout(root: str | Path) -> list[Utterance]:
    """The held-out speakers of a speechocean762-train folder (``speaker_split(..., 0.15)[1]``)."""
    return speaker_split(read_corpus(root), HELDOUT_SPEAKERS)[1]


def cathy_heldout(root: str | Path) -> list[Utterance]:
    """The held-out ARCTIC prompts of a cathy-style folder (``arctic_split(...)[1]``)."""
    return arctic_split(read_corpus(root))[1]


#: LibriSpeech subsets on OpenSLR (resource 12); any of them reads with :func:`read_corpus`
LIBRISPEECH_URL = "https://www.openslr.org/resources/12/{subset}.tar.gz"


def download_librispeech(dest: str | Path, subset: str = "test-clean") -> Path:
    """Fetch a LibriSpeech subset (e.g. ``test-clean``, 346 MB) into ``dest``; return the folder to read.

    Needs the internet. The archive is streamed to disk and unpacked; a second
    call finds the unpacked folder and downloads nothing.
    """
    import tarfile
    import urllib.request

    dest = Path(dest)
    folder = dest / "LibriSpeech" / subset
    if folder.is_dir() and any(folder.rglob("*.trans.txt")):
        return folder
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{subset}.tar.gz"
    if not archive.exists():
        from tqdm.auto import tqdm

        with urllib.request.urlopen(LIBRISPEECH_URL.format(subset=subset)) as resp, open(archive, "wb") as out:
            bar = tqdm(
                total=int(resp.headers.get("Content-Length", 0)) or None,
                unit="B",
                unit_scale=True,
                desc=f"LibriSpeech {subset}",
            )
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return folder

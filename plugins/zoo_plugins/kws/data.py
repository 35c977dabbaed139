"""Speech Commands data in its folder layout: ``ROOT/<label>/<speaker>_nohash_<n>.wav|flac``.

Any directory in that layout works (the dev split in ``../shared/data``, the
official test set, your own recordings). Folders named after one of the 10
keywords keep their label, ``_silence_`` stays silence, ``_background_noise_``
is skipped and every other word becomes ``_unknown_``.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from zoo.splits import speaker_split

from .task import KEYWORDS

__all__ = [
    "TRAIN_SHARE",
    "Example",
    "OFFICIAL_URLS",
    "download_speech_commands",
    "speaker_of",
    "speech_commands",
    "speech_commands_heldout",
]

#: share of the ``speech-commands-dev`` clips, split by speaker, that the KWS recipes train on; the
#: speakers of the rest are the held-out set every KWS card reports
TRAIN_SHARE = 0.5

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")
OFFICIAL_URLS = {
    "v0.02-test": "http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz",
    "v0.02": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
}


@dataclass(frozen=True)
class Example:
    """One labelled clip."""

    path: str
    label: str
    speaker: str


def speaker_of(path: str | Path) -> str:
    """The speaker id in a Speech Commands file name (``<word>_`` prefixes allowed)."""
    stem = Path(path).name.split(".")[0]
    m = re.search(r"([0-9a-f]{8})_nohash", stem)
    return m.group(1) if m else stem


def speech_commands(root: str | Path) -> list[Example]:
    """Every clip under ``root`` in the Speech Commands layout, sorted by path.

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no label folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; pass a folder laid out as <label>/<clip>.wav")
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name == "_background_noise_":
            continue
        label = folder.name if folder.name in (*KEYWORDS, "_silence_", "_unknown_") else "_unknown_"
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in AUDIO_SUFFIXES:
                out.append(Example(str(f), label, speaker_of(f)))
    if not out:
        raise FileNotFoundError(f"no audio found under {root}/<label>/; is this a Speech Commands folder?")
    return out


def speech_commands_heldout(root: str | Path) -> list[Example]:
    """The speakers of ``root`` the KWS recipes never train on (:func:`zoo.splits.speaker_split`, by clips)."""
    return speaker_split(speech_commands(root), 1 - TRAIN_SHARE, balance="clips")[1]


def download_speech_commands(dest: str | Path, version: str = "v0.02-test") -> Path:
    """Download and unpack an official Speech Commands archive into ``dest`` (needs the internet)."""
    import urllib.request

    from tqdm.auto import tqdm

    url = OFFICIAL_URLS[version]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / Path(url).name
    if not archive.exists():
        with tqdm(unit="B", unit_scale=True, desc=archive.name) as bar:

            def hook(blocks: int, block_size: int, total: int) -> None:
                bar.total = total
                bar.update(blocks * block_size - bar.n)

            urllib.request.urlretrieve(url, archive, reporthook=hook)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest

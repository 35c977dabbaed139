"""Audio -> notes with Spotify's Basic Pitch, run from the ONNX file in its wheel.

Only the model file of ``basic-pitch`` is used (it is installed without its
TensorFlow dependencies; the package itself is never imported). The audio is
cut into the model's 2-second windows with 30 overlapping frames (as Basic
Pitch's own ``run_inference``), the per-frame note posteriors are stitched
together, and notes are read off with an onset threshold and a frame
threshold, then snapped onto the quarter-note grid of the music model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .render import Note

__all__ = ["BasicPitch", "RATE", "basic_pitch_model_path", "posteriors_to_notes"]

RATE = 22050
HOP = 256
WINDOW = RATE * 2 - HOP  # 43844 samples
OVERLAP_FRAMES = 30
FPS = RATE // HOP  # 86 frames a second
LOWEST_MIDI = 21  # the model's 88 bins are the piano keys A0-C8


def basic_pitch_model_path() -> Path:
    """``nmp.onnx`` inside the installed ``basic_pitch`` package (found without importing it)."""
    from zoo.weights import package_dir

    path = package_dir("basic-pitch", "basic_pitch", "saved_models/icassp_2022") / "nmp.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall with `pip install --no-deps basic-pitch==0.4.0`")
    return path


@lru_cache(maxsize=1)
def _session(path: str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


class BasicPitch:
    """Basic Pitch (ICASSP 2022) polyphonic transcription.

    >>> notes = BasicPitch()(audio_22050)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else basic_pitch_model_path()

    def posteriors(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame ``note`` and ``onset`` posteriors ``(frames, 88)`` of mono 22.05 kHz audio."""
        session = _session(str(self.path))
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        overlap = OVERLAP_FRAMES * HOP
        hop = WINDOW - overlap
        padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio])
        windows = []
        for i in range(0, max(len(padded), 1), hop):
            w = padded[i : i + WINDOW]
            windows.append(np.pad(w, (0, WINDOW - len(w))))
        x = np.stack(windows)[..., None]
        names = ["StatefulPartitionedCall:1", "StatefulPartitionedCall:2"]
        note, onset = session.run(names, {"serving_default_input_2:0": x})
        n = int(np.floor(len(audio) * FPS / RATE))
        half = OVERLAP_FRAMES // 2

        def unwrap(y: np.ndarray) -> np.ndarray:
            return y[:, half:-half].reshape(-1, y.shape[-1])[:n]

        return {"note": unwrap(note), "onset": unwrap(onset)}

    def __call__(self, audio: np.ndarray, onset_threshold: float = 0.5, frame_threshold: float = 0.3) -> list[Note]:
        """Notes in mono 22.05 kHz ``audio``."""
        return posteriors_to_notes(self.posteriors(audio), onset_threshold, frame_threshold)


def posteriors_to_notes(
    post: dict[str, np.ndarray], onset_threshold: float = 0.5, frame_threshold: float = 0.3, min_frames: int = 6
) -> list[Note]:
    """Notes from posteriors: start at an onset peak (or a frame run), end when the frame posterior drops.

    >>> frames = np.zeros((40, 88)); frames[5:30, 39] = 0.9
    >>> onsets = np.zeros((40, 88)); onsets[5, 39] = 0.8
    >>> [(n.pitch, round(n.onset_s, 3)) for n in posteriors_to_notes({"note": frames, "onset": onsets})]
    [(60, 0.058)]
    """
    note, onset = post["note"], post["onset"]
    active = note >= frame_threshold
    out: list[Note] = []
    for key in range(note.shape[1]):
        on = active[:, key]
        t = 0
        while t < len(on):
            if not on[t]:
                t += 1
                continue
            start = t
            while t < len(on) and on[t]:
                # a new onset inside a held run splits it (a repeated note)
                if t > start + 2 and onset[t, key] >= onset_threshold and onset[t - 1, key] < onset[t, key]:
                    break
                t += 1
            if t - start >= min_frames:
                strength = float(note[start:t, key].mean())
                out.append(
                    Note(start / FPS, (t - start) / FPS, LOWEST_MIDI + key, int(np.clip(30 + 97 * strength, 1, 127)))
                )
    return sorted(out, key=lambda n: (n.onset_s, n.pitch))

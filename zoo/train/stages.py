"""Training records for checkpoints made in stages.

A run that warm-starts from an earlier checkpoint (``--init-from``) folds the
earlier ``training_summary.json`` into its own summary: one ``stages`` list,
oldest first, whose totals (steps, seconds, hours of audio) cover every stage.
A registry card written from the merged summary then states the whole recipe,
time and hardware of the checkpoint, not just its last run. Every recipe in the
zoo records warm starts this way.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["STAGE_KEYS", "with_earlier_stages"]

#: what each stage keeps of its run's summary
STAGE_KEYS = ("recipe", "steps_done", "hours_of_audio_seen", "train_seconds", "hardware", "final_loss_ema")
_TOTALS = {"steps_done": int, "train_seconds": float, "hours_of_audio_seen": float}


def with_earlier_stages(summary: dict, init_from: str | Path) -> dict:
    """``summary`` with the warm-start checkpoint's record folded in (unchanged when it has none).

    >>> with_earlier_stages({"recipe": "b", "steps_done": 5}, "/nonexistent")
    {'recipe': 'b', 'steps_done': 5}
    """
    earlier_path = Path(init_from) / "training_summary.json"
    if not earlier_path.is_file():
        return summary
    earlier = json.loads(earlier_path.read_text())
    stages = earlier.get("stages")
    if not isinstance(stages, list):  # a single-run record (older ones kept a dict of starting points here)
        stages = [_stage(earlier)]
    stages = [*stages, _stage(summary)]
    merged = dict(summary)
    merged["stages"] = stages
    merged["recipe"] = "; then ".join(str(s.get("recipe")) for s in stages)
    for key, kind in _TOTALS.items():
        if key in summary:
            merged[key] = round(sum(kind(s.get(key) or 0) for s in stages), 2)
    hardware = [str(s.get("hardware")) for s in stages]
    merged["hardware"] = hardware[0] if len(set(hardware)) == 1 else " + ".join(hardware)
    return merged


def _stage(summary: dict) -> dict:
    return {k: summary[k] for k in STAGE_KEYS if k in summary}

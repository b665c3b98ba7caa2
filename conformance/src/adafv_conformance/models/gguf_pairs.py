"""A tiny LLaVA GGUF pair (language model + ``mmproj``) from a Hugging Face checkpoint.

For the llama.cpp integration's conformance cell, tests and benchmarks: the suite's tiny
checkpoints (``checkpoints.py``), the same random weights every integration is checked on,
in the two files llama.cpp loads. In the suite, not in that integration, so that no wheel
users install carries test material. Written with the ``gguf`` package from the checkpoint's
safetensors, numpy only, following llama.cpp's converters:

- the language model as ``convert_hf_to_gguf.py`` writes a Llama (query and key rows
  permuted from Hugging Face's rotary layout to GGML's), float32;
- the vision tower and projector as ``tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py``
  writes a LLaVA ``mmproj`` (that script needs transformers 4), float32 except the patch
  embedding, which llama.cpp keeps in float16; layers past the feature layer are dropped; a
  LLaVA-NeXT checkpoint's ``image_grid_pinpoints`` and ``image_newline`` are written as that
  script writes a LLaVA-1.6 ``mmproj`` (llama.cpp then slices images into crops);
- the tokenizer as a WordPiece (``bert``) vocabulary with every word of the tiny model's
  word-level tokenizer as a whole piece, so that llama.cpp splits a prompt into the same
  ids as the Hugging Face processor (lower-cased words and single punctuation marks).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

WORD_PREFIX = "\u2581"  # llama.cpp's WordPiece marks word starts, as SentencePiece does


def _config(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "config.json").read_text())


def image_processor_settings(checkpoint: Path) -> dict:
    """The image processor's settings, from ``processor_config.json`` (transformers 5) or
    ``preprocessor_config.json``."""
    combined = checkpoint / "processor_config.json"
    if combined.exists():
        return json.loads(combined.read_text())["image_processor"]
    return json.loads((checkpoint / "preprocessor_config.json").read_text())


def _tensors(checkpoint: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for path in sorted(checkpoint.glob("*.safetensors")):
        tensors |= load_file(str(path))
    return tensors


def _permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """Hugging Face's rotary layout (halves) to GGML's (interleaved pairs), per head."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _vocabulary(checkpoint: Path, size: int) -> tuple[list[str], list[int]]:
    """``size`` pieces and token types, id for id as the checkpoint's ``tokenizer.json``; ids
    the tokenizer does not use (a model's table may be larger) are unused placeholders."""
    import gguf

    tokenizer = json.loads((checkpoint / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    added = {t["id"]: t["content"] for t in tokenizer.get("added_tokens", [])}
    pieces = [f"<unused{i}>" for i in range(size)]
    types = [gguf.TokenType.UNUSED] * size
    for token, index in vocab.items():
        if index in added:
            continue
        pieces[index], types[index] = WORD_PREFIX + token, gguf.TokenType.NORMAL
    for index, token in added.items():
        pieces[index], types[index] = token, gguf.TokenType.CONTROL
    return pieces, [int(t) for t in types]


def write_language_model(checkpoint: Path, out: Path, dtype: str = "f32") -> Path:
    """The language model of a LLaVA checkpoint as a Llama GGUF, its matrices in ``dtype``
    (``"f32"`` or ``"f16"``; norms stay float32, as llama.cpp's converter keeps them)."""
    import gguf

    config = _config(checkpoint)
    text = config["text_config"]
    tensors = _tensors(checkpoint)
    prefix = "language_model.model."
    heads, kv_heads = text["num_attention_heads"], text["num_key_value_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // heads
    matrices = _matrix_dtype(dtype)
    embed = tensors[prefix + "embed_tokens.weight"]
    # GGUFWriter.add_<key>(value), in the order llama.cpp's converter writes them.
    metadata = {
        "name": "adafv tiny llava language model",
        "context_length": text["max_position_embeddings"],
        "embedding_length": text["hidden_size"],
        "block_count": text["num_hidden_layers"],
        "feed_forward_length": text["intermediate_size"],
        "head_count": heads,
        "head_count_kv": kv_heads,
        "rope_dimension_count": head_dim,
        "rope_freq_base": float(text.get("rope_parameters", {}).get("rope_theta", 10000.0)),
        "layer_norm_rms_eps": text["rms_norm_eps"],
        **_vocabulary_metadata(checkpoint, text, embed.shape[0]),
    }
    if matrices != np.float32:
        metadata["file_type"] = gguf.LlamaFileType.MOSTLY_F16
    writer = gguf.GGUFWriter(str(out), "llama")
    for key, value in metadata.items():
        getattr(writer, f"add_{key}")(value)

    def put(name: str, array: np.ndarray) -> None:
        kind = matrices if array.ndim == 2 else np.float32
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=kind))

    put("token_embd.weight", embed)
    put("output_norm.weight", tensors[prefix + "norm.weight"])
    put("output.weight", tensors["language_model.lm_head.weight"])
    for i in range(text["num_hidden_layers"]):
        layer = f"{prefix}layers.{i}."
        put(f"blk.{i}.attn_norm.weight", tensors[layer + "input_layernorm.weight"])
        put(f"blk.{i}.ffn_norm.weight", tensors[layer + "post_attention_layernorm.weight"])
        put(f"blk.{i}.attn_q.weight", _permute(tensors[layer + "self_attn.q_proj.weight"], heads))
        put(
            f"blk.{i}.attn_k.weight", _permute(tensors[layer + "self_attn.k_proj.weight"], kv_heads)
        )
        put(f"blk.{i}.attn_v.weight", tensors[layer + "self_attn.v_proj.weight"])
        put(f"blk.{i}.attn_output.weight", tensors[layer + "self_attn.o_proj.weight"])
        put(f"blk.{i}.ffn_gate.weight", tensors[layer + "mlp.gate_proj.weight"])
        put(f"blk.{i}.ffn_up.weight", tensors[layer + "mlp.up_proj.weight"])
        put(f"blk.{i}.ffn_down.weight", tensors[layer + "mlp.down_proj.weight"])
    _finish(writer)
    return out


def write_mmproj(checkpoint: Path, out: Path, dtype: str = "f32") -> Path:
    """The CLIP tower and MLP projector of a LLaVA-1.5 or LLaVA-NeXT checkpoint as an
    ``mmproj`` GGUF: the blocks' and projector's matrices in ``dtype``, the rest float32
    (patch embedding float16)."""
    import gguf

    matrices = _matrix_dtype(dtype)
    config = _config(checkpoint)
    vision = config["vision_config"]
    tensors = _tensors(checkpoint)
    preprocessor = image_processor_settings(checkpoint)
    layers = vision["num_hidden_layers"]
    feature_layer = config["vision_feature_layer"]
    # llama.cpp counts the feature layer as an index into the hidden states (0: embeddings).
    block_count = feature_layer if feature_layer >= 0 else layers + 1 + feature_layer
    writer = gguf.GGUFWriter(str(out), "clip")
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_llava_projector", True)
    writer.add_file_type(_file_type(dtype))
    writer.add_name("adafv tiny llava mmproj")
    writer.add_string("clip.projector_type", "mlp")
    writer.add_uint32("clip.vision.image_size", vision["image_size"])
    writer.add_uint32("clip.vision.patch_size", vision["patch_size"])
    writer.add_uint32("clip.vision.embedding_length", vision["hidden_size"])
    writer.add_uint32("clip.vision.feed_forward_length", vision["intermediate_size"])
    writer.add_uint32("clip.vision.projection_dim", vision.get("projection_dim", 0))
    writer.add_uint32("clip.vision.attention.head_count", vision["num_attention_heads"])
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", vision["layer_norm_eps"])
    writer.add_uint32("clip.vision.block_count", block_count)
    writer.add_array("clip.vision.feature_layer", [block_count])
    writer.add_array("clip.vision.image_mean", [float(x) for x in preprocessor["image_mean"]])
    writer.add_array("clip.vision.image_std", [float(x) for x in preprocessor["image_std"]])
    writer.add_bool("clip.use_gelu", vision.get("hidden_act") == "gelu")
    if "image_grid_pinpoints" in config:  # LLaVA-NeXT: llama.cpp's LLaVA-1.6 slicing
        pinpoints = [int(x) for pair in config["image_grid_pinpoints"] for x in pair]
        writer.add_array("clip.vision.image_grid_pinpoints", pinpoints)
        writer.add_string("clip.vision.image_aspect_ratio", "anyres")
        writer.add_string("clip.vision.mm_patch_merge_type", "spatial_unpad")

    def put(name: str, array: np.ndarray, dtype: type = np.float32) -> None:
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=dtype))

    put("mm.0.weight", tensors["multi_modal_projector.linear_1.weight"], matrices)
    put("mm.0.bias", tensors["multi_modal_projector.linear_1.bias"])
    put("mm.2.weight", tensors["multi_modal_projector.linear_2.weight"], matrices)
    put("mm.2.bias", tensors["multi_modal_projector.linear_2.bias"])
    if "image_newline" in tensors:  # loaded by llama.cpp, not used by its LLaVA graph
        put("v.image_newline", tensors["image_newline"])
    tower = "vision_tower."
    put("v.class_embd", tensors[tower + "embeddings.class_embedding"])
    put("v.patch_embd.weight", tensors[tower + "embeddings.patch_embedding.weight"], np.float16)
    put("v.position_embd.weight", tensors[tower + "embeddings.position_embedding.weight"])
    put("v.pre_ln.weight", tensors[tower + "pre_layrnorm.weight"])
    put("v.pre_ln.bias", tensors[tower + "pre_layrnorm.bias"])
    names = {
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.out_proj": "attn_out",
        "layer_norm1": "ln1",
        "layer_norm2": "ln2",
        # The converter's naming, kept so that llama.cpp finds them: fc1 is "ffn_down".
        "mlp.fc1": "ffn_down",
        "mlp.fc2": "ffn_up",
    }
    for i in range(block_count):
        for hf, ours in names.items():
            weight = tensors[f"{tower}encoder.layers.{i}.{hf}.weight"]
            put(f"v.blk.{i}.{ours}.weight", weight, matrices if weight.ndim == 2 else np.float32)
            put(f"v.blk.{i}.{ours}.bias", tensors[f"{tower}encoder.layers.{i}.{hf}.bias"])
    _finish(writer)
    return out


def _vocabulary_metadata(checkpoint: Path, text: dict, size: int) -> dict:
    """The tokenizer keys of a tiny checkpoint's GGUF, float32: its word-level vocabulary as
    whole WordPiece words (``_vocabulary``); a tokenizer without ``<unk>`` (the Qwen and
    Gemma ones) gives llama.cpp its padding token as the unknown one."""
    import gguf

    pieces, types = _vocabulary(checkpoint, size)
    unknown = pieces.index("<unk>") if "<unk>" in pieces else text["pad_token_id"]
    return {
        "tokenizer_model": "bert",
        "tokenizer_pre": "default",
        "token_list": pieces,
        "token_types": types,
        "unk_token_id": unknown,
        "pad_token_id": text["pad_token_id"],
        "bos_token_id": text["bos_token_id"],
        "eos_token_id": text["eos_token_id"],
        "add_bos_token": False,
        "add_eos_token": False,
        "add_sep_token": False,
        "file_type": gguf.LlamaFileType.ALL_F32,
    }


def _mapped(writer, tensors: dict[str, np.ndarray], arch, blocks: int, dtype: type) -> None:
    """Add ``tensors`` (Hugging Face names, as llama.cpp's converters see them) under
    llama.cpp's names, from the ``gguf`` package's own name map for ``arch``: matrices in
    ``dtype``, vectors in float32, as the converters keep norms and biases."""
    import gguf

    names = gguf.get_tensor_name_map(arch, blocks)
    for name, array in tensors.items():
        ours = names.get_name(name, try_suffixes=(".weight", ".bias", ".weight.1"))
        if ours is None:
            raise KeyError(f"llama.cpp's name map for {arch.name} has no {name!r}")
        kind = dtype if array.ndim == 2 else np.float32
        writer.add_tensor(ours, np.ascontiguousarray(array, dtype=kind))


def write_qwen_language_model(checkpoint: Path, out: Path, dtype: str = "f32") -> Path:
    """The language model of a Qwen2-VL, Qwen2.5-VL or Qwen3-VL checkpoint as llama.cpp's
    ``qwen2vl`` or ``qwen3vl`` GGUF, as ``convert_hf_to_gguf.py`` writes it
    (``conversion/qwenvl.py``, ``conversion/qwen3vl.py``): no row permutation (Qwen's rotary
    layout is GGML's NeoX one), the M-RoPE sections (``mrope_section``, in rotary pairs,
    padded to four; Qwen3-VL's are interleaved, which its architecture implies) and, for
    Qwen3-VL, the number of DeepStack levels each image row carries."""
    import gguf

    config = _config(checkpoint)
    text = config["text_config"]
    qwen3 = config["model_type"] == "qwen3_vl"
    heads = text["num_attention_heads"]
    head_dim = text.get("head_dim") or text["hidden_size"] // heads
    rope = text["rope_parameters"]
    sections = [int(x) for x in rope["mrope_section"]]
    matrices = _matrix_dtype(dtype)
    prefix = "model.language_model." if qwen3 else "model."
    tensors = {
        "model." + name.removeprefix(prefix) if name.startswith(prefix) else name: array
        for name, array in _tensors(checkpoint).items()
        if not name.startswith(("model.visual.", "visual."))
    }
    metadata = {
        "name": f"adafv tiny {config['model_type']} language model",
        "context_length": text["max_position_embeddings"],
        "embedding_length": text["hidden_size"],
        "block_count": text["num_hidden_layers"],
        "feed_forward_length": text["intermediate_size"],
        "head_count": heads,
        "head_count_kv": text["num_key_value_heads"],
        "key_length": head_dim,
        "value_length": head_dim,
        "rope_dimension_count": head_dim,
        "rope_dimension_sections": sections + [0] * (4 - len(sections)),
        "rope_freq_base": float(rope["rope_theta"]),
        "layer_norm_rms_eps": text["rms_norm_eps"],
        **_vocabulary_metadata(checkpoint, text, tensors["model.embed_tokens.weight"].shape[0]),
    }
    if qwen3:
        metadata["num_deepstack_layers"] = len(config["vision_config"]["deepstack_visual_indexes"])
    if matrices != np.float32:
        metadata["file_type"] = gguf.LlamaFileType.MOSTLY_F16
    arch = gguf.MODEL_ARCH.QWEN3VL if qwen3 else gguf.MODEL_ARCH.QWEN2VL
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    for key, value in metadata.items():
        getattr(writer, f"add_{key}")(value)
    _mapped(writer, tensors, arch, text["num_hidden_layers"], matrices)
    _finish(writer)
    return out


def write_qwen_mmproj(checkpoint: Path, out: Path, dtype: str = "f32") -> Path:
    """The vision tower and merger of a Qwen2.5-VL or Qwen3-VL checkpoint as an ``mmproj``
    GGUF, as ``conversion/qwenvl.py`` and ``conversion/qwen3vl.py`` write them, the matrices
    in ``dtype`` and the rest float32: the temporal patch kernel split into two spatial ones;
    for Qwen2.5-VL (``qwen2.5vl_merger``) the fused ``qkv`` split into query, key and value
    and the window period from ``fullatt_block_indexes``; for Qwen3-VL (``qwen3vl_merger``)
    the learned position table, and each DeepStack merger under the tower block it reads."""
    import gguf

    config = _config(checkpoint)
    vision = config["vision_config"]
    qwen3 = config["model_type"] == "qwen3_vl"
    preprocessor = image_processor_settings(checkpoint)
    blocks = vision["depth"]
    writer = gguf.GGUFWriter(str(out), "clip")
    matrices = _matrix_dtype(dtype)
    writer.add_file_type(_file_type(dtype))
    writer.add_name(f"adafv tiny {config['model_type']} mmproj")
    writer.add_clip_has_vision_encoder(True)
    writer.add_vision_projection_dim(config["text_config"]["hidden_size"])
    image_size = (
        int(vision["num_position_embeddings"] ** 0.5 * vision["patch_size"]) if qwen3 else 560
    )
    writer.add_vision_image_size(vision.get("image_size", image_size))
    writer.add_vision_patch_size(vision["patch_size"])
    writer.add_vision_embedding_length(vision["hidden_size"])
    writer.add_vision_feed_forward_length(vision["intermediate_size"])
    writer.add_vision_block_count(blocks)
    writer.add_vision_head_count(vision["num_heads"])
    writer.add_vision_image_mean([float(x) for x in preprocessor["image_mean"]])
    writer.add_vision_image_std([float(x) for x in preprocessor["image_std"]])
    writer.add_vision_spatial_merge_size(vision["spatial_merge_size"])
    tensors = {
        "visual." + name.removeprefix("model.visual.").removeprefix("visual."): array
        for name, array in _tensors(checkpoint).items()
        if name.startswith(("model.visual.", "visual."))
    }
    kernel = tensors.pop("visual.patch_embed.proj.weight")  # (out, in, time, h, w)
    writer.add_tensor("v.patch_embd.weight", np.ascontiguousarray(kernel[:, :, 0]))
    writer.add_tensor("v.patch_embd.weight.1", np.ascontiguousarray(kernel[:, :, 1]))
    if qwen3:
        writer.add_clip_projector_type(gguf.VisionProjectorType.QWEN3VL)
        writer.add_vision_use_gelu(True)
        writer.add_vision_attention_layernorm_eps(config["text_config"]["rms_norm_eps"])
        levels = [int(i) for i in vision["deepstack_visual_indexes"]]
        writer.add_vision_is_deepstack_layers([i in levels for i in range(blocks)])
        writer.add_tensor("v.patch_embd.bias", tensors.pop("visual.patch_embed.proj.bias"))
        for name in [n for n in tensors if n.startswith(("visual.merger.", "visual.deepstack"))]:
            array = tensors.pop(name)
            parts = name.split(".")
            if parts[1] == "merger":  # linear_fc1 / linear_fc2 / norm
                ours = {"linear_fc1": "mm.0", "linear_fc2": "mm.2", "norm": "v.post_ln"}[parts[2]]
            else:  # deepstack_merger_list.<level>.<norm|linear_fc1|linear_fc2>
                kind = {"norm": "norm", "linear_fc1": "fc1", "linear_fc2": "fc2"}[parts[3]]
                ours = f"v.deepstack.{levels[int(parts[2])]}.{kind}"
            writer.add_tensor(f"{ours}.{parts[-1]}", np.ascontiguousarray(array, dtype=np.float32))
    else:
        full = [int(i) for i in vision["fullatt_block_indexes"]]
        period = full[0] + 1
        if any(b - a != period for a, b in itertools.pairwise(full)):
            raise ValueError(f"fullatt_block_indexes={full} is not periodic, as llama.cpp needs")
        writer.add_clip_projector_type(gguf.VisionProjectorType.QWEN25VL)
        writer.add_vision_use_silu(True)
        writer.add_vision_n_wa_pattern(period)
        writer.add_vision_window_size(vision["window_size"])
        writer.add_vision_attention_layernorm_eps(config.get("rms_norm_eps", 1e-6))
        for name in [n for n in tensors if ".attn.qkv." in n]:
            for which, rows in zip("qkv", np.split(tensors.pop(name), 3), strict=True):
                tensors[name.replace(".qkv.", f".{which}.")] = rows
    _mapped(writer, tensors, gguf.MODEL_ARCH.MMPROJ, blocks, matrices)
    _finish(writer)
    return out


def _gemma3_tensors(checkpoint: Path) -> dict[str, np.ndarray]:
    """A Gemma 3 checkpoint's tensors under the names llama.cpp's converter reads
    (``vision_tower.vision_model.*``, ``model.*``), with Gemma's norms as llama.cpp stores
    them: ``1 + w``, as ``Gemma3RMSNorm`` applies them (``conversion/gemma.py``; the SigLIP
    tower's LayerNorms are plain)."""
    renamed = {}
    for name, array in _tensors(checkpoint).items():
        name = name.replace("language_model.model.", "model.", 1)
        name = name.replace("model.language_model.", "model.", 1)
        if name.startswith("vision_tower.") and not name.startswith("vision_tower.vision_model."):
            name = name.replace("vision_tower.", "vision_tower.vision_model.", 1)
        name = name.replace("mm_input_projection_weight", "mm_input_projection.weight")
        gemma_norm = name.startswith("model.") or "soft_emb_norm" in name
        if gemma_norm and name.endswith("norm.weight"):
            array = array + np.float32(1.0)
        renamed[name] = array
    return renamed


def write_gemma3_language_model(checkpoint: Path, out: Path, dtype: str = "f32") -> Path:
    """The language model of a Gemma 3 checkpoint as llama.cpp's ``gemma3`` GGUF, as
    ``conversion/gemma.py`` writes it: the global layers' rotary base, the sliding window
    and its layers' base, tied output embeddings (no ``output`` tensor)."""
    import gguf

    config = _config(checkpoint)
    text = config["text_config"]
    rope = text["rope_parameters"]
    matrices = _matrix_dtype(dtype)
    tensors = {n: a for n, a in _gemma3_tensors(checkpoint).items() if n.startswith("model.")}
    head_dim = text["head_dim"]
    metadata = {
        "name": "adafv tiny gemma3 language model",
        "context_length": text["max_position_embeddings"],
        "embedding_length": text["hidden_size"],
        "block_count": text["num_hidden_layers"],
        "feed_forward_length": text["intermediate_size"],
        "head_count": text["num_attention_heads"],
        "head_count_kv": text["num_key_value_heads"],
        "key_length": head_dim,
        "value_length": head_dim,
        "rope_freq_base": float(rope["full_attention"]["rope_theta"]),
        "rope_freq_base_swa": float(rope["sliding_attention"]["rope_theta"]),
        "sliding_window": text["sliding_window"],
        "layer_norm_rms_eps": text["rms_norm_eps"],
        **_vocabulary_metadata(checkpoint, text, tensors["model.embed_tokens.weight"].shape[0]),
    }
    if matrices != np.float32:
        metadata["file_type"] = gguf.LlamaFileType.MOSTLY_F16
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GEMMA3])
    for key, value in metadata.items():
        getattr(writer, f"add_{key}")(value)
    _mapped(writer, tensors, gguf.MODEL_ARCH.GEMMA3, text["num_hidden_layers"], matrices)
    _finish(writer)
    return out


def write_gemma3_mmproj(checkpoint: Path, out: Path, dtype: str = "f32") -> Path:
    """The SigLIP tower and projector of a Gemma 3 checkpoint as an ``mmproj`` GGUF
    (projector ``gemma3``), as ``conversion/gemma.py`` writes it, the matrices in ``dtype``
    and the rest float32: the pooling factor written where it is not the released 4 (the
    tiny checkpoint's tower has the released 896-pixel input, so it is 4 here too)."""
    import gguf

    config = _config(checkpoint)
    vision = config["vision_config"]
    settings = image_processor_settings(checkpoint)
    writer = gguf.GGUFWriter(str(out), "clip")
    writer.add_file_type(_file_type(dtype))
    writer.add_name("adafv tiny gemma3 mmproj")
    writer.add_clip_has_vision_encoder(True)
    writer.add_vision_projection_dim(config["text_config"]["hidden_size"])
    writer.add_vision_image_size(vision["image_size"])
    writer.add_vision_patch_size(vision["patch_size"])
    writer.add_vision_embedding_length(vision["hidden_size"])
    writer.add_vision_feed_forward_length(vision["intermediate_size"])
    writer.add_vision_block_count(vision["num_hidden_layers"])
    writer.add_vision_head_count(vision["num_attention_heads"])
    writer.add_vision_image_mean([float(x) for x in settings["image_mean"]])
    writer.add_vision_image_std([float(x) for x in settings["image_std"]])
    writer.add_clip_projector_type(gguf.VisionProjectorType.GEMMA3)
    writer.add_vision_attention_layernorm_eps(vision.get("layer_norm_eps", 1e-6))
    writer.add_vision_use_gelu(True)
    per_side = int(config["mm_tokens_per_image"] ** 0.5)
    pooling = (vision["image_size"] // vision["patch_size"]) // per_side
    if pooling != 4:
        writer.add_vision_projector_scale_factor(pooling)
    tensors = {n: a for n, a in _gemma3_tensors(checkpoint).items() if not n.startswith("model.")}
    _mapped(
        writer, tensors, gguf.MODEL_ARCH.MMPROJ, vision["num_hidden_layers"], _matrix_dtype(dtype)
    )
    _finish(writer)
    return out


def _finish(writer) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _matrix_dtype(dtype: str) -> type:
    if dtype not in ("f32", "f16"):
        raise ValueError(f"dtype={dtype!r} is not 'f32' or 'f16'")
    return np.float32 if dtype == "f32" else np.float16


def _file_type(dtype: str) -> Any:
    """The GGUF ``general.file_type`` of a file whose matrices are in ``dtype``."""
    import gguf

    _matrix_dtype(dtype)
    return gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16


def write_pair(
    checkpoint: str | Path, out_dir: str | Path, dtype: str = "f32", mmproj_dtype: str = "f32"
) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of a LLaVA-1.5, LLaVA-NeXT, Qwen2.5-VL, Qwen3-VL or Gemma 3
    checkpoint in ``out_dir``: the language model's matrices in ``dtype``, the vision tower's
    in ``mmproj_dtype`` (float32 for the conformance cases; released ``mmproj`` files are
    F16)."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = {
        "gemma3": (write_gemma3_language_model, write_gemma3_mmproj),
        "qwen2_5_vl": (write_qwen_language_model, write_qwen_mmproj),
        "qwen3_vl": (write_qwen_language_model, write_qwen_mmproj),
    }
    language_model, mmproj = writers.get(
        _config(checkpoint)["model_type"], (write_language_model, write_mmproj)
    )
    return (
        language_model(checkpoint, out_dir / "model.gguf", dtype),
        mmproj(checkpoint, out_dir / "mmproj.gguf", mmproj_dtype),
    )

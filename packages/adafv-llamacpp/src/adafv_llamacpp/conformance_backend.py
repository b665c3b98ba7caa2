"""llama.cpp, through llama-cpp-python and this package's handler, as a conformance backend for
the model-level suite.

    python -m adafv_conformance --fixtures conformance/fixtures/models run \\
        --backend adafv_llamacpp.conformance_backend:backend --device cpu

Each LLaVA-1.5 case runs as a user of the handler would run it, on a GGUF pair written from
the case's checkpoint (``adafv_conformance.models.gguf_pairs``), with the case's PNG files
and its prompt text, verbatim, with the images where the prompt has its markers; the token
ids llama.cpp makes of the prompt are checked against the fixture's. The two stacks
preprocess pixels differently (llama.cpp
pads to a square and resizes, Transformers' CLIP processor resizes the short side and crops
the centre) except on a 336 x 336 image, which neither changes: ``llava15-square-k64``
compares from the same pixels on.

It reports the spec's outputs for every image (saliency, T2I log-scores, kept indices) and,
for the pruned prompt, its token ids and the logits at every position.

The llama.cpp vendored by llama-cpp-python 0.3.36 carries an upstream defect in its LLaVA
graph (ggml-org/llama.cpp#25814, see ``adafv_llamacpp.layout``): its image rows are not the
Transformers model's patches. The backend reads the running build's layout once, through the
handler on the tiny LLaVA-1.5 pair; on the defective layout the LLaVA-1.5 cases are reported
as excluded, with the reason, and the agreement is measured instead
(``tests/test_against_transformers.py``); on a build with the fix (``nox -s
llamacpp_patched``) they run.

Qwen2.5-VL and Qwen3-VL cases run through ``AdaFVQwen25VLChatHandler``: the case's prompt with each
``<|vision_start|><|image_pad|><|vision_end|>`` replaced by the image (llama.cpp adds the two
markers itself). The token ids are the text before each image, its ``K`` kept rows as the
image token, and the text after; the logits are the kept rows' (from the handler) between the
text's. llama.cpp pads a picture to the merged patches' grid (28 pixels, 32 for Qwen3-VL)
where Transformers stretches it, so only pictures on that grid start from the same pixels
(``qwen2.5-vl-aligned-k48``, ``qwen3-vl-aligned-k40``); and ggml's
``ggml_conv_2d`` rounds the pixels and the patch kernel to float16 (its ``im2col`` is float16
unless the kernel is bfloat16), so that case is compared at float16's precision
(:data:`FLOAT16_PATCHES`); the kept indices and token ids stay exact. Other families are
unsupported: llama.cpp's LLaVA-1.6 is not Transformers' LLaVA-NeXT (no unpadded crops, no
newline rows), and this package has no handler for the rest.
"""

from __future__ import annotations

import base64
import json
import tempfile
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from adafv_conformance import Precision, Unsupported, model_outputs
from adafv_llamacpp.layout import CLS_LAST, GraphLayout

# The Llava15ChatHandler's template without its roles: the case's prompt, as written.
VERBATIM = (
    "{% for message in messages %}{% for part in message.content %}"
    "{% if part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endfor %}"
)
IMAGE_MARKER = "<image>"
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
GEMMA3_IMAGE = "<start_of_image>"
# The stock handler each model type runs on, and where its prompts hold an image (mtmd adds
# the Qwen and Gemma markers around each image itself).
HANDLED = {
    "llava": ("Llava15ChatHandler", IMAGE_MARKER),
    "qwen2_5_vl": ("Qwen25VLChatHandler", QWEN_IMAGE),
    "qwen3_vl": ("Qwen25VLChatHandler", QWEN_IMAGE),
    "gemma3": ("MTMDChatHandler", GEMMA3_IMAGE),
}
# Where neither stack resizes a picture, so both read the same pixels: the pixel grid of a Qwen
# family's merged patches (llama.cpp pads onto it where Transformers stretches), and Gemma 3's
# input size (llama.cpp and Transformers resize to it with different filters).
UNRESIZED = {
    "llava": lambda w, h: (w, h) == (336, 336),  # padded to a square, where HF crops
    "qwen2_5_vl": lambda w, h: w % 28 == 0 and h % 28 == 0,
    "qwen3_vl": lambda w, h: w % 32 == 0 and h % 32 == 0,
    "gemma3": lambda w, h: (w, h) == (896, 896),
}
OTHER_PIXELS = (
    "llama.cpp resizes this picture otherwise than Transformers' processor (LLaVA's is padded "
    "to a square where Transformers crops its centre; a Qwen picture is padded onto the "
    "merged patches' grid where Transformers stretches it; Gemma 3's is resized to 896 x 896 "
    "with another filter): the two stacks see other pixels; the cases on pictures neither "
    "resizes (llava15-square-k64, qwen2.5-vl-aligned-k48, qwen3-vl-aligned-k40, "
    "gemma3-aligned-k64) compare them on the same ones"
)
# ggml_conv_2d (ggml/src/ggml.c, llama-cpp-python 0.3.36) builds its im2col in float16 unless
# the kernel is bfloat16, so the patch embedding sees pixels and kernel rounded to float16;
# Transformers with both rounded so agrees with llama.cpp's patch embeddings within 4.3e-6
# (measured on qwen2.5-vl-aligned-k48), and the rest of the graph is float32. Measured there,
# in float16 epsilons of each output's scale: saliency 0.6, T2I log-scores 1.6, logits 5.0.
FLOAT16_PATCHES = Precision(
    "float16",
    16,
    "ggml_conv_2d rounds the pixels and the patch kernel to float16 (its im2col is float16)",
)
# LLaVA's CLIP graph has more float16 stages than the patch embedding: its GELUs come from
# float16 tables (GGML_GELU_QUICK_FP16, GGML_GELU_FP16 in ggml-cpu/vec.h), and the projector's
# is the tanh approximation. Measured on llava15-square-k64 with PR #25844 applied, in float16
# epsilons of each output's scale: saliency 1.2, T2I log-scores 5.2, logits 2.4.
FLOAT16_CLIP = Precision(
    "float16",
    16,
    "ggml_conv_2d rounds the pixels and the patch kernel to float16 (its im2col is float16), "
    "and ggml's CLIP takes its GELUs from float16 tables (the projector's the tanh one)",
)
DEFECT = (
    "ggml-org/llama.cpp#25814: the vendored LLaVA graph puts [CLS] after the patches and "
    "shifts their positions, so its image rows are not Transformers' patches; agreement is "
    "measured in packages/adafv-llamacpp/tests/test_against_transformers.py"
)


class LlamaCppBackend:
    """The handler on tiny GGUF pairs; see the module docstring.

    Args:
        honour_defect: exclude the LLaVA-1.5 cases when the running llama.cpp has the
            [CLS]-order defect (the default); ``False`` runs and compares them anyway.
    """

    name = "llamacpp"

    def __init__(self, honour_defect: bool = True) -> None:
        self.honour_defect = honour_defect
        self._pairs: dict[str, tuple[Path, Path]] = {}
        self._workdir = tempfile.TemporaryDirectory(prefix="adafv-llamacpp-conformance-")
        self._layout: GraphLayout | None = None

    @cached_property
    def tolerances(self) -> dict[str, Precision]:
        """Every case at float16's precision: :data:`FLOAT16_CLIP` for LLaVA, whose cases run
        on a build with the [CLS]-order fix, and :data:`FLOAT16_PATCHES` for the others."""
        return {
            case: FLOAT16_CLIP if family == "llava" else FLOAT16_PATCHES
            for family in UNRESIZED
            for case in self._cases_of(family)
        }

    @cached_property
    def _cases(self) -> dict[str, dict]:
        """The suite's model cases' parameters by id, read once."""
        from adafv_conformance.suite import MODEL_FIXTURES, load_suite

        return {case.id: case.params() for case in load_suite(MODEL_FIXTURES).cases}

    def _cases_of(self, model_type: str) -> list[str]:
        return [case for case, params in self._cases.items() if _model_type(params) == model_type]

    @cached_property
    def exclusions(self) -> dict[str, str]:
        """The cases on pictures llama.cpp resizes otherwise than Transformers
        (:data:`OTHER_PIXELS`); and every LLaVA-1.5 case when the running llama.cpp has the
        [CLS]-order defect (:meth:`graph_layout`); none without llama-cpp-python (every case
        is then skipped for that)."""
        if self.unsupported_reason("cpu") is not None:
            return {}
        excluded = {
            case: OTHER_PIXELS
            for case, params in self._cases.items()
            if _model_type(params) in UNRESIZED and not _unresized(params)
        }
        if self.honour_defect and self.graph_layout() == CLS_LAST:  # the defect comes first
            excluded |= {case: DEFECT for case in self._cases_of("llava")}
        return excluded

    def graph_layout(self) -> GraphLayout:
        """The LLaVA graph layout of the running llama.cpp, as the handler reads it from one
        image through the tiny LLaVA-1.5 pair (once per backend)."""
        if self._layout is None:
            from adafv_conformance.suite import MODEL_FIXTURES

            checkpoint = MODEL_FIXTURES / "llava-1.5-tiny"
            config = _config(str(checkpoint))
            params = {
                "model_dir": str(checkpoint),
                "guarantee": 0.25,
                "t2i_scale": 100.0,
                "budget": 64,
            }
            image = _data_url(str(MODEL_FIXTURES / "images" / "picture-11.png"))
            row = self._run_row(f"{IMAGE_MARKER} ?", [image], params, "cpu", config)
            self._layout = row["layout"]
        return self._layout

    def unsupported_reason(self, device: str) -> str | None:
        """Why ``device`` cannot run here: no llama-cpp-python, or one without GPU offload."""
        try:
            import llama_cpp
        except ImportError:
            return "llama-cpp-python is not installed (pip install 'adafv-llamacpp[llama-cpp]')"
        if device == "cuda" and not llama_cpp.llama_supports_gpu_offload():
            return (
                "llama-cpp-python is built without GPU offload; build it with "
                'CMAKE_ARGS="-DGGML_CUDA=on" on a CUDA machine'
            )
        if device not in ("cpu", "cuda"):
            return f"unknown device {device!r}"
        return None

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]:
        """One model case through the handler, as a user's chat request would go."""
        if kind != "model":
            raise Unsupported("core cases run on adafv's own backends (adafv.conformance_backends)")
        if any(params.get("video_paths", [])):
            raise Unsupported("llama-cpp-python's chat handlers take no videos")
        model_type = _model_type(params)
        if model_type == "llava_next":
            raise Unsupported(
                "llama.cpp's LLaVA-1.6 neither unpads crops nor inserts image_newline rows: "
                "it is not the Transformers LLaVA-NeXT model the fixture was made with"
            )
        if model_type not in HANDLED:
            raise Unsupported(f"adafv-llamacpp has no handler for {model_type!r}")
        marker = HANDLED[model_type][1]
        if any(prompt.rstrip().endswith(marker) for prompt in params["prompts"]):
            raise Unsupported(
                "a prompt that ends in an image: llama-cpp-python computes no logits for an "
                "image's last row, and its sampler aborts the process (the stock handler too)"
            )
        config = _config(params["model_dir"])
        rows = [
            self._run_row(prompt, [_data_url(path) for path in paths], params, device, config)
            for prompt, paths in zip(params["prompts"], params["image_paths"], strict=True)
        ]
        for row, want_ids, valid in zip(
            rows, inputs["input_ids"], inputs["attention_mask"].astype(bool), strict=True
        ):
            if not np.array_equal(row["text_ids"], _text_ids(want_ids[valid], _image_id(config))):
                raise AssertionError("llama.cpp tokenised the prompt into other ids")
        return model_outputs(
            [(s.saliency, s.t2i_log, s.kept) for row in rows for s in row["images"]],
            [(row["ids"], row["logits"]) for row in rows],
        )

    def _run_row(
        self, prompt: str, urls: list[str], params: dict, device: str, config: dict
    ) -> dict[str, Any]:
        from llama_cpp import Llama, llama_cpp

        from adafv_llamacpp import handler_class

        stock, marker = HANDLED[config["model_type"]]
        if prompt.count(marker) != len(urls):
            raise ValueError(f"{len(urls)} images for {prompt.count(marker)} markers")
        model, mmproj = self._pair(params["model_dir"])
        budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
        handler = handler_class(stock)(
            clip_model_path=str(mmproj),
            guarantee=params["guarantee"],
            t2i_scale=params["t2i_scale"],
            verbose=False,
            **budget,
        )
        handler.CHAT_FORMAT = VERBATIM  # the LLaVA handlers' template
        handler._get_chat_template = lambda llama: VERBATIM  # the generic handler's
        content = _content(prompt, marker, urls, generic=stock == "MTMDChatHandler")
        f32 = llama_cpp.GGML_TYPE_F32
        llm = Llama(
            model_path=str(model),
            chat_handler=handler,
            n_ctx=4096,
            n_gpu_layers=-1 if device == "cuda" else 0,
            logits_all=True,
            # float32 keys and values: llama.cpp's default cache is float16
            type_k=f32,
            type_v=f32,
            seed=0,
            verbose=False,
        )
        try:
            messages = [{"role": "user", "content": content}]
            out = llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
            n = out["usage"]["prompt_tokens"]
            ids, scores = _pruned_prompt(
                llm.input_ids[:n], llm.scores[:n], handler.selections, _image_id(config)
            )
            return {
                "layout": handler.layout,
                "images": list(handler.selections),
                "ids": ids,
                "text_ids": ids[ids != _image_id(config)],
                "logits": scores,
            }
        finally:
            llm.close()

    def _pair(self, model_dir: str) -> tuple[Path, Path]:
        from adafv_conformance.models.gguf_pairs import write_pair

        if model_dir not in self._pairs:
            out = Path(self._workdir.name) / Path(model_dir).name
            self._pairs[model_dir] = write_pair(model_dir, out)
        return self._pairs[model_dir]


def _model_type(params: dict) -> str:
    return _config(params["model_dir"])["model_type"]


@cache
def _config(model_dir: str) -> dict:
    """A checkpoint's ``config.json``, read once (callers do not change it)."""
    return json.loads((Path(model_dir) / "config.json").read_text())


def _image_id(config: dict) -> int:
    return int(config.get("image_token_index", config.get("image_token_id")))


def _text_ids(ids: np.ndarray, image: int) -> np.ndarray:
    return ids[ids != image]


def _pruned_prompt(
    ids: np.ndarray, scores: np.ndarray, selections: list, image: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pruned prompt's token ids (each kept row as ``image``) and logits, from the
    ``Llama``'s positions and the handler's selections: the text's rows are at their positions,
    each image's kept rows between ``n_past`` and ``end`` (one position per row for LLaVA,
    fewer positions than rows under M-RoPE, whose rows' logits the handler keeps)."""
    ids, scores = np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)
    id_parts, score_parts, at = [], [], 0
    for selection in selections:
        id_parts += [ids[at : selection.n_past], np.full(len(selection.kept), image)]
        rows = (
            selection.logits
            if selection.logits is not None
            else scores[selection.n_past : selection.end]
        )
        score_parts += [scores[at : selection.n_past], rows]
        at = selection.end
    id_parts.append(ids[at:])
    score_parts.append(scores[at:])
    return np.concatenate(id_parts), np.concatenate(score_parts)


def _content(prompt: str, marker: str, urls: list[str], generic: bool) -> list[dict]:
    """The message content of ``prompt`` with the images at its markers: for the LLaVA
    handlers (whose template renders text only) the images first and their URLs in the text,
    where the handler finds them; for the generic handler (which renders each image part as
    mtmd's marker) the text and image parts in the prompt's order."""
    pieces = prompt.split(marker)
    if not generic:
        text = pieces[0] + "".join(url + piece for url, piece in zip(urls, pieces[1:], strict=True))
        images = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        return [*images, {"type": "text", "text": text}]
    content = [{"type": "text", "text": pieces[0]}]
    for url, piece in zip(urls, pieces[1:], strict=True):
        content += [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": piece},
        ]
    return content


def _unresized(params: dict) -> bool:
    """Whether neither stack resizes any picture of the case (:data:`UNRESIZED`; sizes from
    the PNG header)."""
    import struct

    unresized = UNRESIZED[_model_type(params)]
    for row in params["image_paths"]:
        for path in row:
            if not unresized(*struct.unpack(">II", Path(path).read_bytes()[16:24])):
                return False
    return True


def _data_url(path: str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


backend = LlamaCppBackend()

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
llamacpp_patched``) they run. Other
families are unsupported: llama.cpp's LLaVA-1.6 is not Transformers' LLaVA-NeXT (no unpadded
crops, no newline rows), and this package has no handler for the rest.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from adafv_conformance import Unsupported, model_outputs
from adafv_llamacpp.layout import CLS_LAST, GraphLayout

# The Llava15ChatHandler's template without its roles: the case's prompt, as written.
VERBATIM = (
    "{% for message in messages %}{% for part in message.content %}"
    "{% if part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endfor %}"
)
IMAGE_MARKER = "<image>"
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

    @property
    def exclusions(self) -> dict[str, str]:
        """The LLaVA-1.5 cases, excluded when the running llama.cpp has the [CLS]-order
        defect (:meth:`graph_layout`); none on a fixed build, or without llama-cpp-python
        (every case is then skipped for that)."""
        from adafv_conformance.suite import MODEL_FIXTURES, load_suite

        if not self.honour_defect or self.unsupported_reason("cpu") is not None:
            return {}
        if self.graph_layout() != CLS_LAST:
            return {}
        suite = load_suite(MODEL_FIXTURES)
        return {case.id: DEFECT for case in suite.cases if _model_type(case.params()) == "llava"}

    def graph_layout(self) -> GraphLayout:
        """The LLaVA graph layout of the running llama.cpp, as the handler reads it from one
        image through the tiny LLaVA-1.5 pair (once per backend)."""
        if self._layout is None:
            from adafv_conformance.suite import MODEL_FIXTURES

            checkpoint = MODEL_FIXTURES / "llava-1.5-tiny"
            config = json.loads((checkpoint / "config.json").read_text())
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
        model_type = _model_type(params)
        if model_type == "llava_next":
            raise Unsupported(
                "llama.cpp's LLaVA-1.6 neither unpads crops nor inserts image_newline rows: "
                "it is not the Transformers LLaVA-NeXT model the fixture was made with"
            )
        if model_type != "llava":
            raise Unsupported(f"adafv-llamacpp has no handler for {model_type!r}")
        if any(prompt.rstrip().endswith(IMAGE_MARKER) for prompt in params["prompts"]):
            raise Unsupported(
                "a prompt that ends in an image: llama-cpp-python computes no logits for an "
                "image's last row, and its sampler aborts the process (the stock handler too)"
            )
        config = json.loads((Path(params["model_dir"]) / "config.json").read_text())
        rows = [
            self._run_row(prompt, [_data_url(path) for path in paths], params, device, config)
            for prompt, paths in zip(params["prompts"], params["image_paths"], strict=True)
        ]
        for row, want_ids, valid in zip(
            rows, inputs["input_ids"], inputs["attention_mask"].astype(bool), strict=True
        ):
            if not np.array_equal(row["text_ids"], _text_ids(want_ids[valid], config)):
                raise AssertionError("llama.cpp tokenised the prompt into other ids")
        return model_outputs(
            [(s.saliency, s.t2i_log, s.kept) for row in rows for s in row["images"]],
            [(row["ids"], row["logits"]) for row in rows],
        )

    def _run_row(
        self, prompt: str, urls: list[str], params: dict, device: str, config: dict
    ) -> dict[str, Any]:
        from llama_cpp import Llama

        from adafv_llamacpp import handler_class

        if prompt.count(IMAGE_MARKER) != len(urls):
            raise ValueError(f"{len(urls)} images for {prompt.count(IMAGE_MARKER)} markers")
        model, mmproj = self._pair(params["model_dir"])
        budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
        handler = handler_class("Llava15ChatHandler")(
            clip_model_path=str(mmproj),
            guarantee=params["guarantee"],
            t2i_scale=params["t2i_scale"],
            verbose=False,
            **budget,
        )
        handler.CHAT_FORMAT = VERBATIM
        text = prompt
        for url in urls:
            text = text.replace(IMAGE_MARKER, url, 1)
        content = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        llm = Llama(
            model_path=str(model),
            chat_handler=handler,
            n_ctx=4096,
            n_gpu_layers=-1 if device == "cuda" else 0,
            logits_all=True,
            seed=0,
            verbose=False,
        )
        try:
            messages = [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]
            out = llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
            n = out["usage"]["prompt_tokens"]
            ids = np.array(llm.input_ids[:n], dtype=np.int64)
            image_rows = ids < 0  # the handler marks kept image rows with -1 - row
            ids[image_rows] = config["image_token_index"]
            return {
                "layout": handler.layout,
                "images": list(handler.selections),
                "ids": ids,
                "text_ids": ids[~image_rows],
                "logits": np.array(llm.scores[:n], dtype=np.float32),
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
    return json.loads((Path(params["model_dir"]) / "config.json").read_text())["model_type"]


def _text_ids(ids: np.ndarray, config: dict) -> np.ndarray:
    return ids[ids != config["image_token_index"]]


def _data_url(path: str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


backend = LlamaCppBackend()

"""The soak: SGLang's HTTP server with the plugin, many requests in flight, some of them
invalid, some abandoned, all of them checked.

One run serves one tiny fixture checkpoint (:data:`MODELS`) on the loopback address, with a
small chunked-prefill size (prompts are split inside their images) and a 1 MiB multimodal
embedding cache (pruned and full images evict each other under the run). It goes in two
phases on one freshly started server:

1. **Alone.** Every distinct valid request of the workload (:func:`catalog`: text only, one
   image, two images; the same images with other questions and other options, ``{"adafv":
   false}`` and ``query="after"`` among them) is served one at a time, the prefix cache
   flushed before each: its greedy output and prompt log-probabilities are the reference.
2. **Under load.** ``requests`` requests drawn with a fixed seed from that catalog, from the
   invalid options the plugin refuses (:data:`REFUSED`), from prompts with one image
   placeholder more than they have images, from streams whose client hangs up
   after the first chunk, and from requests aborted through ``/abort_request`` while they
   generate, are sent ``concurrency`` at a time.

What must hold (:func:`failures`): every request is answered, and the server answers
``/health_generate`` at the end; every valid request's prompt tokens, prompt log-probabilities
and greedy output equal its reference (log-probabilities within a float32 tolerance, since
batches and cached prefixes sum in other orders; an output may leave its reference only where
the reference's two likeliest tokens tie within that tolerance); every invalid one is a 400
naming the key and the value, and every prompt with a placeholder too many a 400 saying so;
the plugin's records and SGLang's embedding cache stay within their bounds, and the resident
memory of the server's processes (sampled throughout and
reported) grows by less than :data:`RSS_GROWTH_MIB`.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from adafv_conformance.suite import MODEL_FIXTURES
from adafv_sglang_helpers import STANDIN

IMAGES = sorted(str(path) for path in (MODEL_FIXTURES / "images").glob("picture-*.png"))
QUESTIONS = [
    "What color is the circle on the left?",
    "How many dots are there?",
    "Is the square above the line?",
]
# Valid per-request options: the server's default (``ADAFV_BUDGET``), other budgets and
# ratios, AdaFV off (every image token: the entries that fill the embedding cache), and the
# other query rule (ADAFV-R23).
OPTIONS: list[Any] = [
    None,
    {"budget": 16},
    {"keep_ratio": 0.1, "guarantee": 0.5},
    False,
    {"query": "after", "budget": 24},
]
PRUNING = [options for options in OPTIONS if options is not False]
SERVER_BUDGET = 32
# Options the plugin refuses, one per check it makes, with the key and the value (as the
# message writes it) its 400 must name.
REFUSED: list[tuple[Any, str, str]] = [
    ({"budget": -1}, "budget", "-1"),
    ({"budget": 0}, "budget", "0"),
    ({"budget": True}, "budget", "True"),
    ({"budget": "32"}, "budget", "'32'"),
    # SGLang parses an integer past 64 bits as a float: the message names what it received.
    ({"budget": 2**70}, "budget", repr(float(2**70))),
    ({"keep_ratio": 1.5}, "keep_ratio", "1.5"),
    ({"keep_ratio": -0.0}, "keep_ratio", "-0.0"),
    ({"guarantee": 2.0}, "guarantee", "2.0"),
    ({"t2i_scale": -1.0}, "t2i_scale", "-1.0"),
    ({"image_newline": "x"}, "image_newline", "'x'"),
    ({"query": "first"}, "query", "'first'"),
    ({"budjet": 3}, "budjet", "unknown keys"),
    (64, "custom_params['adafv']", "64"),
    (None, "custom_params['adafv']", "None"),
]
# Each float32 rounding is 6e-8 relative; batches, chunks and cached prefixes sum in other
# orders, through a few layers, on log-probabilities of magnitude up to log(vocabulary).
TOLERANCE = 1e-4
MAX_NEW_TOKENS = 6
# How much the server's resident memory may grow from the start of the run to its end: above
# the allocator's own drift (55 MiB over a thousand LLaVA-NeXT requests), below what keeping
# each request's rows or cache would add over a thousand (0.5 MiB a whole LLaVA-NeXT image).
RSS_GROWTH_MIB = 256


@dataclass(frozen=True)
class Served:
    """A checkpoint as the soak serves it: how its prompts name an image, and the chat
    template the server's start-up warm-up needs (the fixtures carry none)."""

    name: str
    checkpoint: Path
    image: str
    chat_template: str
    user: str = "USER: "
    assistant: str = " ASSISTANT:"

    def prompt(self, images: int, question: str) -> str:
        return f"{self.user}{self.image * images}\n{question}{self.assistant}"


MODELS = {
    "llava-1.5": Served("llava-1.5", MODEL_FIXTURES / "llava-1.5-tiny", "<image> ", "vicuna_v1.1"),
    "llava-next": Served(
        "llava-next", MODEL_FIXTURES / "llava-next-tiny", "<image> ", "vicuna_v1.1"
    ),
    "qwen2-vl": Served(
        "qwen2-vl",
        MODEL_FIXTURES / "qwen2-vl-tiny",
        "<|vision_start|><|image_pad|><|vision_end|>",
        "qwen2-vl",
        user="user: ",
        assistant=" assistant :",
    ),
}


@dataclass(frozen=True, eq=False)
class Ask:
    """One valid request of the workload: its images, question and AdaFV options (``None``:
    the server's default)."""

    images: tuple[str, ...]
    question: str
    options: Any = None

    @property
    def key(self) -> str:
        """The request as text: equal for equal requests (its options may be a dict)."""
        return json.dumps([self.images, self.question, self.options])

    def body(self, model: Served, **extra: Any) -> dict[str, Any]:
        sampling: dict[str, Any] = {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 0.0}
        if self.options is not None:
            sampling["custom_params"] = {"adafv": self.options}
        body = {
            "text": model.prompt(len(self.images), self.question),
            "sampling_params": sampling,
            "return_logprob": True,
            "logprob_start_len": 0,
            "top_logprobs_num": 2,
        }
        if self.images:
            body["image_data"] = list(self.images)
        return {**body, **extra}


def catalog(seed: int = 0) -> list[Ask]:
    """The distinct valid requests: each question text only; each image with a question, with
    another question served whole (AdaFV off: the entries that fill the embedding cache
    fastest), and every other image with its neighbour, pruned; the first image with one
    question under every option (the embedding cache holds one entry per pixels, query and
    options). Options, where not given, and questions are drawn with ``seed``."""
    draw = random.Random(seed)
    asks = [Ask((), q, draw.choice(OPTIONS)) for q in QUESTIONS]
    for i, image in enumerate(IMAGES):
        question, other = draw.sample(QUESTIONS, 2)
        asks.append(Ask((image,), question, draw.choice(OPTIONS)))
        asks.append(Ask((image,), other, False))
        if i % 2 == 0:  # pruned: two LLaVA-NeXT images served whole pass its context
            pair = (image, IMAGES[(i + 1) % len(IMAGES)])
            asks.append(Ask(pair, draw.choice(QUESTIONS), draw.choice(PRUNING)))
    asks += [Ask((IMAGES[0],), QUESTIONS[0], options) for options in OPTIONS]
    return list({ask.key: ask for ask in asks}.values())


@dataclass
class Figures:
    """What one soak run measured, for the report and the checks."""

    model: str
    requests: int = 0
    concurrency: int = 0
    seconds: float = 0.0
    by_kind: Counter = field(default_factory=Counter)
    refused_by_key: Counter = field(default_factory=Counter)
    equal_to_alone: int = 0
    near_ties: int = 0
    mismatched: int = 0
    aborted: int = 0
    finished_before_abort: int = 0
    rss_mib: dict[str, float] = field(default_factory=dict)
    embedding_bytes_served: int = 0
    records: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["by_kind"], out["refused_by_key"] = dict(self.by_kind), dict(self.refused_by_key)
        return out


def server_args(model: Served, chunked_prefill: int) -> tuple[str, ...]:
    return (
        "--dtype",
        "float32",
        "--max-total-tokens",
        "16384",
        "--chunked-prefill-size",
        str(chunked_prefill),
        "--chat-template",
        model.chat_template,
        "--log-level",
        "warning",
    )


@contextmanager
def soak_server(model: Served, workdir: Path, chunked_prefill: int = 48) -> Iterator[str]:
    """The model's server on CPU with the plugin, ``ADAFV_BUDGET``, a 1 MiB embedding cache
    and a small chunked-prefill size; yields its URL."""
    from adafv_sglang.engine import sglang_server

    checkpoint = model.checkpoint
    if model.name == "qwen2-vl":
        # Released Qwen2-VL configs name the tower's input channels "in_chans", which SGLang's
        # tower reads; the fixture's config, saved by Transformers 5, names them "in_channels".
        checkpoint = workdir / checkpoint.name
        shutil.copytree(model.checkpoint, checkpoint, dirs_exist_ok=True)
        config = json.loads((checkpoint / "config.json").read_text())
        config["vision_config"]["in_chans"] = config["vision_config"]["in_channels"]
        (checkpoint / "config.json").write_text(json.dumps(config))
    environment = {"ADAFV_BUDGET": str(SERVER_BUDGET), "SGLANG_VLM_CACHE_SIZE_MB": "1"}
    args = server_args(model, chunked_prefill)
    with sglang_server(checkpoint, "cpu", environment, STANDIN, args) as url:
        yield url


def served(answer: dict[str, Any]) -> dict[str, Any]:
    """What a reference and a request under load are compared on."""
    meta = answer["meta_info"]
    return {
        "prompt": [token for _, token, _ in meta["input_token_logprobs"]],
        "prompt_logprobs": [value for value, _, _ in meta["input_token_logprobs"]],
        "output": answer["output_ids"],
        "top2": [[value for value, _, _ in top[:2]] for top in meta["output_top_logprobs"]],
        "image_tokens": meta.get("image_tokens", 0),
    }


def alone(url: str, model: Served, asks: list[Ask]) -> dict[str, dict[str, Any]]:
    """Each request served by itself, the prefix cache flushed before each."""
    references = {}
    for ask in asks:
        flushed = requests.post(f"{url}/flush_cache", timeout=60)
        assert flushed.status_code == 200, flushed.text
        answer = requests.post(f"{url}/generate", json=ask.body(model), timeout=300)
        assert answer.status_code == 200, (ask, answer.text)
        references[ask.key] = served(answer.json())
    return references


def compare(got: dict[str, Any], want: dict[str, Any]) -> tuple[str | None, bool]:
    """Why ``got`` is not its reference ``want`` (None: it is), and whether its output left
    the reference's at a near-tie."""
    if got["prompt"] != want["prompt"] or got["image_tokens"] != want["image_tokens"]:
        return "another prompt", False
    errors = [
        abs(a - b)
        for a, b in zip(got["prompt_logprobs"][1:], want["prompt_logprobs"][1:], strict=True)
    ]
    if errors and max(errors) > TOLERANCE:
        return f"prompt log-probabilities off by {max(errors):.3g}", False
    for i, (token, expected) in enumerate(zip(got["output"], want["output"], strict=False)):
        if token != expected:
            first, second = want["top2"][i]
            if first - second <= TOLERANCE:
                return None, True
            return (
                f"output token {i} is {token}, alone {expected} (margin {first - second:.3g})",
                False,
            )
    if len(got["output"]) != len(want["output"]):
        return "another output length", False
    return None, False


class Memory:
    """The resident memory of a server's processes (the launcher and every process it
    started), sampled every ``interval`` seconds in a thread."""

    def __init__(self, url: str, interval: float = 0.5):
        port = url.rsplit(":", 1)[1]
        self.root = next(
            process
            for process in psutil.process_iter(["cmdline"])
            if "sglang.launch_server" in (process.info["cmdline"] or ())
            and port in process.info["cmdline"]
        )
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def now(self) -> float:
        """MiB resident in the server's processes now."""
        total = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total / 2**20

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.samples.append(self.now())

    def __enter__(self) -> Memory:
        self.samples.append(self.now())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.now())


def plugin_records(url: str) -> dict[str, Any]:
    """The plugin's records and SGLang's embedding cache, from ``/server_info``."""
    info = requests.get(f"{url}/server_info", timeout=60).json()
    (state,) = info["internal_states"]
    return state["adafv"]


def error_message(answer: requests.Response) -> str:
    """The message of one of SGLang's error bodies (``/generate``'s and the OpenAI API's)."""
    body = answer.json()
    return body["error"]["message"] if "error" in body else body["message"]


def workload(asks: list[Ask], count: int, seed: int) -> list[tuple[str, Any]]:
    """``count`` requests: (kind, what it carries), drawn with ``seed``."""
    draw = random.Random(seed)
    kinds = ["valid"] * 14 + ["refused"] * 3 + ["mismatch", "hang_up", "abort"]
    out: list[tuple[str, Any]] = []
    for _ in range(count):
        kind = draw.choice(kinds)
        if kind == "refused":
            out.append((kind, (draw.choice(REFUSED), draw.choice(asks))))
        elif kind == "mismatch":  # one image placeholder more in the prompt than images
            ask = draw.choice([ask for ask in asks if ask.images])
            out.append((kind, Ask(ask.images[:1], ask.question, ask.options)))
        else:
            out.append((kind, draw.choice(asks)))
    return out


def soak(
    model: Served,
    workdir: Path,
    requests_count: int,
    concurrency: int = 16,
    seed: int = 0,
) -> Figures:
    """One soak run of ``model`` (module docstring); its figures, with every failure in
    ``failures``."""
    figures = Figures(model.name, requests=requests_count, concurrency=concurrency)
    asks = catalog(seed)
    with soak_server(model, workdir) as url:
        references = alone(url, model, asks)
        # Every distinct item's rows pass through the embedding cache (float32 rows of the
        # language model's width); more than it holds, and it must evict under the run.
        config = json.loads((model.checkpoint / "config.json").read_text())
        row = 4 * config["text_config"]["hidden_size"]
        figures.embedding_bytes_served = row * sum(r["image_tokens"] for r in references.values())
        plan = workload(asks, requests_count, seed)
        lock = threading.Lock()

        def run(kind: str, carried: Any) -> None:
            try:
                outcome = _send(url, model, kind, carried, references)
            except requests.RequestException as error:
                outcome = (f"{kind}: no answer: {error!r}", {})
            failure, counts = outcome
            with lock:
                figures.by_kind[kind] += 1
                for name, value in counts.items():
                    if name == "refused_key":
                        figures.refused_by_key[value] += 1
                    else:
                        setattr(figures, name, getattr(figures, name) + value)
                if failure:
                    figures.failures.append(failure)

        with Memory(url) as memory:
            start = time.monotonic()
            with ThreadPoolExecutor(concurrency) as pool:
                for _ in pool.map(lambda item: run(*item), plan):
                    pass
            figures.seconds = round(time.monotonic() - start, 1)
        figures.rss_mib = {
            "start": round(memory.samples[0], 1),
            "end": round(memory.samples[-1], 1),
            "peak": round(max(memory.samples), 1),
        }
        growth = figures.rss_mib["end"] - figures.rss_mib["start"]
        if growth > RSS_GROWTH_MIB:
            figures.failures.append(f"resident memory grew {growth:.0f} MiB: {figures.rss_mib}")
        health = requests.get(f"{url}/health_generate", timeout=120)
        if health.status_code != 200:
            figures.failures.append(f"not serving at the end: {health.status_code}")
        figures.records = plugin_records(url)
    figures.failures += bounds(figures.records, figures.embedding_bytes_served)
    return figures


def bounds(records: dict[str, Any], served_bytes: int) -> list[str]:
    """Where the plugin's records or SGLang's embedding cache exceed their bounds, or the
    workload did not fill the cache past its size (``served_bytes``: the distinct items')."""
    out = []
    kept = records["kept_positions"]
    if kept["entries"] > kept["capacity"]:
        out.append(f"kept positions: {kept}")
    cache = records.get("embedding_cache")
    if cache is not None and cache["bytes"] > cache["capacity_bytes"]:
        out.append(f"embedding cache: {cache}")
    if cache is None or served_bytes <= cache["capacity_bytes"]:
        out.append(f"{served_bytes} bytes of items never overfilled the embedding cache: {cache}")
    return out


def _send(
    url: str, model: Served, kind: str, carried: Any, references: dict[str, dict[str, Any]]
) -> tuple[str | None, dict[str, Any]]:
    """Send one request of the workload; what failed (None: nothing) and what it counts."""
    if kind == "valid":
        answer = requests.post(f"{url}/generate", json=carried.body(model), timeout=600)
        if answer.status_code != 200:
            return f"valid {carried}: {answer.status_code} {answer.text[:300]}", {}
        failure, near_tie = compare(served(answer.json()), references[carried.key])
        if failure:
            return f"valid {carried}: {failure}", {}
        return None, {"equal_to_alone": 1, "near_ties": int(near_tie)}
    if kind == "refused":
        (options, key, value), ask = carried
        body = ask.body(model)
        body["sampling_params"]["custom_params"] = {"adafv": options}
        answer = requests.post(f"{url}/generate", json=body, timeout=600)
        message = error_message(answer) if answer.status_code == 400 else answer.text[:300]
        if answer.status_code != 400 or key not in message or value not in message:
            return f"refused {options!r}: {answer.status_code} {message}", {}
        return None, {"refused_key": key}
    if kind == "mismatch":
        body = carried.body(model)
        body["text"] = model.prompt(2, carried.question)
        answer = requests.post(f"{url}/generate", json=body, timeout=600)
        message = error_message(answer) if answer.status_code == 400 else answer.text[:300]
        # The plugin's message, or SGLang's where its processor checks first (Qwen2-VL).
        if answer.status_code != 400 or "prompt has 2 image" not in message.lower():
            return f"mismatch {carried}: {answer.status_code} {message}", {}
        return None, {"mismatched": 1}
    if kind == "hang_up":
        body = carried.body(model, stream=True)
        body["sampling_params"].update(max_new_tokens=32, ignore_eos=True)
        with requests.post(f"{url}/generate", json=body, timeout=600, stream=True) as answer:
            if answer.status_code != 200:
                return f"hang-up {carried}: {answer.status_code}", {}
            next(answer.iter_lines(), None)  # the first chunk, then the client is gone
        return None, {}
    # An abort: a long generation, stopped through the API once it has begun.
    rid = uuid.uuid4().hex
    body = carried.body(model, stream=True, rid=rid)
    body["sampling_params"].update(max_new_tokens=64, ignore_eos=True)
    with requests.post(f"{url}/generate", json=body, timeout=600, stream=True) as answer:
        if answer.status_code != 200:
            return f"abort {carried}: {answer.status_code}", {}
        lines = answer.iter_lines()
        next(lines, None)
        requests.post(f"{url}/abort_request", json={"rid": rid}, timeout=60)
        last = None
        for line in lines:
            if line.startswith(b"data:") and line != b"data: [DONE]":
                last = json.loads(line[5:])
    reason = (last or {}).get("meta_info", {}).get("finish_reason") or {}
    if reason.get("type") == "abort":
        return None, {"aborted": 1}
    if reason.get("type") == "length":
        return None, {"finished_before_abort": 1}
    return f"abort {carried}: ended with {reason!r}", {}

"""SGLang's real HTTP server (``python -m sglang.launch_server``) with the plugin, serving the
tiny llava-hf LLaVA-1.5 checkpoint on the loopback address, as a client sees it.

A request's AdaFV options are checked on every request, with or without an image, in the
tokenizer's process before the request reaches the scheduler: a bad one is a 400 that names
the key and the value, the same on a text-only request as on one with an image, on SGLang's
native ``/generate`` and on its OpenAI-style chat completions; ``{"adafv": null}`` is refused
with what to send instead; valid options change nothing on a text-only request; the server
goes on serving; and a three-turn conversation about one image finds the conversation before
each turn in the prefix cache with ``query="turn"`` and only the tokens before the image with
``query="after"`` (ADAFV-R23). On CPU the server needs ``jsonschema`` and ``soundfile``
besides the engine's packages (``cpu-env/requirements.txt``).
"""

from __future__ import annotations

import pytest

from adafv_sglang_helpers import CHECKPOINT, STANDIN
from adafv_sglang_soak import error_message

requests = pytest.importorskip("requests")

IMAGE = str(CHECKPOINT.parent / "images" / "picture-0.png")
TEXT = "USER: How many dots are there in the picture, in one word? ASSISTANT:"
WITH_IMAGE = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"

# Per-request options the plugin refuses, with the key and the value its 400 must name.
BAD = [
    pytest.param({"budget": -1}, "budget", "-1", id="negative-budget"),
    pytest.param({"budget": 0}, "budget", "0", id="zero-budget"),
    pytest.param({"budget": True}, "budget", "True", id="bool-budget"),
    pytest.param({"budget": "32"}, "budget", "'32'", id="string-budget"),
    pytest.param({"keep_ratio": 1.5}, "keep_ratio", "1.5", id="ratio-above-1"),
    pytest.param({"guarantee": 2.0}, "guarantee", "2.0", id="guarantee"),
    pytest.param({"image_newline": "x"}, "image_newline", "'x'", id="image-newline"),
    pytest.param({"budjet": 3}, "budjet", "unknown keys", id="unknown-key"),
    pytest.param(64, "custom_params['adafv']", "64", id="not-an-object"),
]
NULL_REFUSED = r"custom_params['adafv']=None is not an object or false: send false"


@pytest.fixture(scope="module")
def server(device):
    from adafv_sglang.engine import sglang_server

    args = ("--dtype", "float32", "--max-total-tokens", "8192")
    if device == "cuda":
        args += ("--attention-backend", "triton")
    # The fixture has no chat template, which the server's start-up warm-up needs.
    args += ("--chat-template", "vicuna_v1.1", "--log-level", "warning")
    with sglang_server(CHECKPOINT, device, {"ADAFV_BUDGET": "32"}, STANDIN, args) as url:
        yield url


def generate(url: str, custom_params: dict | None, image: bool = False) -> requests.Response:
    sampling = {"max_new_tokens": 4, "temperature": 0.0}
    if custom_params is not None:
        sampling["custom_params"] = custom_params
    body = {
        "text": WITH_IMAGE if image else TEXT,
        "sampling_params": sampling,
        "return_logprob": True,
        "logprob_start_len": 0,
    }
    if image:
        body["image_data"] = IMAGE
    return requests.post(f"{url}/generate", json=body, timeout=300)


def chat(url: str, custom_params: dict | None) -> requests.Response:
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "How many dots are there?"}],
        "max_tokens": 4,
        "temperature": 0.0,
    }
    if custom_params is not None:
        body["custom_params"] = custom_params
    return requests.post(f"{url}/v1/chat/completions", json=body, timeout=300)


@pytest.mark.parametrize(("options", "key", "value"), BAD)
def test_a_bad_option_on_a_text_only_request_is_a_400_naming_key_and_value(
    server, options, key, value
):
    text_only = generate(server, {"adafv": options})
    assert text_only.status_code == 400, text_only.text
    message = error_message(text_only)
    assert key in message and value in message, message
    # The same answer as the image path, where the options are used.
    with_image = generate(server, {"adafv": options}, image=True)
    assert (with_image.status_code, error_message(with_image)) == (400, message)
    answer = chat(server, {"adafv": options})
    assert (answer.status_code, error_message(answer)) == (400, message)


def test_null_is_refused_with_what_to_send_instead(server):
    for answer in (
        generate(server, {"adafv": None}),
        generate(server, {"adafv": None}, image=True),
        chat(server, {"adafv": None}),
    ):
        assert answer.status_code == 400, answer.text
        assert NULL_REFUSED in error_message(answer)


@pytest.mark.parametrize(
    "custom_params",
    [
        {"adafv": {"budget": 16}},
        {"adafv": {"keep_ratio": 0.1, "guarantee": 0.5}},
        {"adafv": False},
        {"adafv": {}},
        {},
    ],
    ids=["budget", "keep-ratio", "off", "empty-options", "no-adafv-key"],
)
def test_valid_options_leave_a_text_only_request_as_it_was(server, custom_params):
    alone = generate(server, None)
    asked = generate(server, custom_params)
    assert (alone.status_code, asked.status_code) == (200, 200), asked.text
    alone, asked = alone.json(), asked.json()
    assert asked["output_ids"] == alone["output_ids"]
    want, got = alone["meta_info"], asked["meta_info"]
    assert got["prompt_tokens"] == want["prompt_tokens"]
    assert got["input_token_logprobs"] == want["input_token_logprobs"]
    assert chat(server, custom_params).status_code == 200


def test_the_server_serves_images_after_refused_requests(server):
    for options, _, _ in (p.values for p in BAD):
        assert generate(server, {"adafv": options}).status_code == 400
    answer = generate(server, None, image=True)
    assert answer.status_code == 200, answer.text
    assert answer.json()["meta_info"]["image_tokens"] == 32  # ADAFV_BUDGET
    asked = generate(server, {"adafv": {"budget": 16}}, image=True).json()["meta_info"]
    assert asked["image_tokens"] == 16


def _conversation(url: str, query: str) -> list[dict]:
    """Three turns about one image, each prompt the one before with its answer and the next
    question, as token ids; each turn's ``meta_info``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(CHECKPOINT)

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    questions = ["What color is the circle?", "Is it left of the square?", "How many dots?"]
    ids = encode("USER: <image>\n")
    metas = []
    for turn, question in enumerate(questions):
        ids += encode(("" if turn == 0 else "USER: ") + f"{question} ASSISTANT:")
        body = {
            "input_ids": ids,
            "image_data": IMAGE,
            "sampling_params": {
                "max_new_tokens": 4,
                "temperature": 0.0,
                "custom_params": {"adafv": {"query": query}},
            },
        }
        answer = requests.post(f"{url}/generate", json=body, timeout=300)
        assert answer.status_code == 200, answer.text
        metas.append(answer.json()["meta_info"])
        ids += answer.json()["output_ids"] + [tokenizer.eos_token_id]
    return metas


def test_a_conversation_reuses_the_image_and_the_prefix_cache_by_turn_not_after(server):
    # ADAFV-R23: with query "turn" every later turn has turn 1's query, so the image's hash,
    # and finds the whole conversation before it cached; with "after" each turn's query
    # holds the conversation so far, and only the tokens before the image are reused.
    before_image = 2  # "user", ":"
    by_turn = _conversation(server, "turn")
    after = _conversation(server, "after")
    for metas in (by_turn, after):
        assert [m["image_tokens"] for m in metas] == [32] * 3  # ADAFV_BUDGET
    cached_turn = [m["cached_tokens"] for m in by_turn]
    cached_after = [m["cached_tokens"] for m in after]
    prompts = [m["prompt_tokens"] for m in by_turn]
    print(f"cached tokens by turn: turn {cached_turn}, after {cached_after}; prompts {prompts}")
    assert cached_after[1:] == [before_image] * 2, cached_after
    # Turn 2 and 3 find at least the prompt of the turn before (its answer is cached too,
    # but for the last token of the prompt, which is always prefilled).
    assert cached_turn[1] >= prompts[0] - 1 and cached_turn[2] >= prompts[1] - 1, cached_turn

"""The assistant openers that end an image's turn (ADAFV-R23), read from a checkpoint's
tokenizer: its chat template's generation prompt and its family's templates."""

from __future__ import annotations

from transformers import AutoTokenizer

from adafv_conformance.suite import MODEL_FIXTURES
from adafv_transformers.turns import assistant_openers, generation_prompt

LLAVA = MODEL_FIXTURES / "llava-1.5-tiny"


class _Templated:
    """A tokenizer with a Qwen-style template whose words are all in its vocabulary."""

    chat_template = "yes"
    unk_token_id = 0

    def __init__(self):
        self.vocabulary = {"<|im_start|>": 1, "assistant": 2, "\n": 3}

    def apply_chat_template(self, turns, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<|im_start|>{t['role']}\n{t['content']}<|im_end|>\n" for t in turns)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def encode(self, text, add_special_tokens=False):
        ids, rest = [], text
        while rest:
            word = next((w for w in self.vocabulary if rest.startswith(w)), None)
            ids.append(self.vocabulary.get(word, 0))
            rest = rest[len(word) if word else 1 :]
        return ids


def test_llava_without_a_template_takes_its_familys_opener():  # ADAFV-R23
    tokenizer = AutoTokenizer.from_pretrained(LLAVA)
    assert generation_prompt(tokenizer) is None
    (opener,) = assistant_openers(tokenizer, "llava")
    assert tokenizer.convert_ids_to_tokens(list(opener)) == ["assistant", ":"]
    # In a prompt the opener is the same run of ids as alone.
    prompt = tokenizer.encode("USER: <image>\nWhat? ASSISTANT:", add_special_tokens=False)
    assert tuple(prompt[-len(opener) :]) == opener


def test_a_template_gives_its_generation_prompt_first():  # ADAFV-R23
    tokenizer = _Templated()
    assert generation_prompt(tokenizer) == "<|im_start|>assistant\n"
    assert assistant_openers(tokenizer, "qwen2_vl") == ((1, 2, 3),)  # once, not twice
    assert assistant_openers(tokenizer, "an_unknown_family") == ((1, 2, 3),)


def test_an_opener_the_tokenizer_cannot_spell_is_none():  # its ids would match any unknown word
    tokenizer = AutoTokenizer.from_pretrained(MODEL_FIXTURES / "qwen2-vl-tiny")
    assert assistant_openers(tokenizer, "qwen2_vl") == ()
    assert assistant_openers(AutoTokenizer.from_pretrained(LLAVA), "an_unknown_family") == ()

"""The committed tiny checkpoints, and what a user's checkpoint carries that they lack: chat
templates and LLaVA-OneVision's processor config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CHECKPOINTS = Path(__file__).resolve().parents[3] / "conformance" / "fixtures" / "models"
LLAVA_15 = CHECKPOINTS / "llava-1.5-tiny"
LLAVA_NEXT = CHECKPOINTS / "llava-next-tiny"

# What a llava-hf checkpoint's processor carries (chat_template.jinja) and lmms-eval's chat
# classes need; the committed tiny checkpoints have none. LLaVA-1.5's conversation format.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ 'USER: ' if message['role'] == 'user' else 'ASSISTANT: ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}{% endif %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


# Qwen2-VL's and Gemma 3's formats, with the tiny tokenizers' words and special tokens.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|> {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant {% endif %}"
)
GEMMA3_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} : "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}{% endif %} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


# What a llava-hf LLaVA-OneVision checkpoint's processor_config.json holds, which the tiny
# checkpoint (saved with its image processor alone) lacks: 729 = (384 // 14) ** 2 tokens.
ONEVISION_PROCESSOR = {
    "processor_class": "LlavaOnevisionProcessor",
    "image_token": "<image>",
    "video_token": "<video>",
    "num_image_tokens": 729,
    "vision_feature_select_strategy": "full",
}


def with_chat_template(
    checkpoint: Path,
    directory: Path,
    template: str = LLAVA_CHAT_TEMPLATE,
    processor: dict | None = None,
) -> Path:
    """A copy of ``checkpoint`` in ``directory`` whose processor has a chat template (and
    ``processor`` as its ``processor_config.json``, where given)."""
    copy = directory / checkpoint.name
    shutil.copytree(checkpoint, copy)
    (copy / "chat_template.jinja").write_text(template)
    if processor is not None:
        (copy / "processor_config.json").write_text(json.dumps(processor))
    return copy

"""What the tiny checkpoints' prompts may say: their word-level vocabulary and the special
tokens by which each family marks an image.

The tokenizer (``checkpoints.tokenizer``) knows only these words, so no download is needed;
other words become ``<unk>``. Case tables, input expansion and the checkpoint builders all
read the markers from here, so a prompt and the tokenizer that reads it cannot disagree.
Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

SPECIAL_TOKENS = ["<unk>", "<pad>", "<s>", "</s>"]
IMAGE_TOKEN = "<image>"
VIDEO_TOKEN = "<video>"
_WORDS = """
user assistant system what which where how many is are was the a an of in on at to and
or with this that these image picture photo describe color colour shape object objects
left right top bottom middle center red green blue yellow black white orange purple
circle square triangle stripe stripes line lines dot dots cat dog car tree sky sun house
person people there one two three four five big small large tiny near far behind front
answer question short word sentence please detail it its you see do does : ? . , ! ' -
"""
VOCABULARY = tuple(_WORDS.split())

QWEN_SPECIAL_TOKENS = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_start_token": "<|vision_start|>",
    "vision_end_token": "<|vision_end|>",
}
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"  # what a Qwen prompt holds
QWEN_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"

GEMMA3_SPECIAL_TOKENS = {
    "image_token": "<image_soft_token>",
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
}
GEMMA3_IMAGE = "<start_of_image>"  # what a prompt holds; the processor expands it

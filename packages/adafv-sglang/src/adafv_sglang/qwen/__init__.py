"""Qwen2-VL, Qwen2.5-VL, Qwen3-VL (with its DeepStack levels) and Qwen3.5 in SGLang: the prompt
cut in the processor (``prompt``), the M-RoPE positions of a pruned prompt (``mrope``,
``positions``), the encoder step with the saliency of ADAFV-R18 (``selection``) and the hooks
(``hooks``)."""

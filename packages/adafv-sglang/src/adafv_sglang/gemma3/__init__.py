"""Gemma 3 (``Gemma3ForConditionalGeneration``) served by SGLang with AdaFV: the prompt cut to
``K`` placeholders per image in SGLang's processor (``prompt``), the encoder step keeping
``K`` of each image's pooled tokens (``selection``), the hooks that wire both in (``hooks``)."""

"""The llava-hf LLaVA family in SGLang: LLaVA-1.5 (SGLang's own model class, repaired) and
LLaVA-NeXT (the plugin's model class, ``next``, with its crops' packing, ``anyres``); the
encoder step (``selection``), the CLIP tower (``tower``) and the hooks (``hooks``)."""

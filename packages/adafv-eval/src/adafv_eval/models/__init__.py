"""lmms-eval's Hugging Face model classes with AdaFV: one module per lmms-eval module.

Each module imports its lmms-eval base only when lmms-eval asks for that model, so one
family's optional dependencies (``qwen_vl_utils`` for Qwen) never stand in another's way.
"""

"""Imports the ``sgl_kernel`` stand-in at interpreter start, in every process of an engine
started with this directory on ``PYTHONPATH`` (see ``sgl_kernel/__init__.py``)."""

import sgl_kernel  # noqa: F401

"""The handler's options are the core's, and importing the package needs no llama-cpp-python:
the handler classes subclass its classes, so they are imported on first use."""

from __future__ import annotations

import subprocess
import sys

import adafv
import adafv_llamacpp


def test_the_options_are_the_cores():
    assert adafv_llamacpp.Options is adafv.Options


def test_importing_the_package_does_not_import_llama_cpp():
    code = "import sys, adafv_llamacpp; assert 'llama_cpp' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

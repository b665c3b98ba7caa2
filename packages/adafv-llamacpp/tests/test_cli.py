"""``python -m adafv_llamacpp``: both handlers on one image, a table of what each did."""

from __future__ import annotations

import pytest

from adafv_llamacpp.cli import main
from adafv_llamacpp_helpers import IMAGES, QUESTION


@pytest.mark.parametrize(
    ("pair", "picture", "image_tokens", "handler"),
    [
        ("gguf_pair", 11, 576, "Llava15ChatHandler"),  # 336 x 336: one crop
        ("next_gguf_pair", 7, 3 * 576, "Llava16ChatHandler"),  # 500 x 300: 2 crops + overview
        ("qwen25_gguf_pair", 11, 144, "Qwen25VLChatHandler"),  # 336 x 336: 12 x 12 merged
    ],
)
def test_cli_compares_the_stock_handler_with_adafv(
    request, capsys, pair, picture, image_tokens, handler
):
    status, out = _run(capsys, request.getfixturevalue(pair), picture, "--budget", "48")
    assert status == 0 and handler in out
    rows = _rows(out)
    assert rows["image tokens"] == [str(image_tokens), "48"]
    stock, ours = (int(cell) for cell in rows["prompt tokens"])
    assert stock - ours == image_tokens - 48


@pytest.mark.parametrize("options", [("--budget", "576"), ("--keep-ratio", "1.0")])
def test_options_that_keep_every_token_give_the_stock_prompt(capsys, gguf_pair, options):
    status, out = _run(capsys, gguf_pair, 11, *options)  # 576 image tokens
    rows = _rows(out)
    assert status == 0
    assert rows["image tokens"][0] == "all" and "keeps every one" in rows["image tokens"][1]
    assert rows["prompt tokens"][0] == rows["prompt tokens"][1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--budget", "0"), "--budget: budget must be an integer >= 1, got 0"),
        (("--keep-ratio", "1.5"), "--keep-ratio: keep_ratio must be a number in (0, 1], got 1.5"),
    ],
)
def test_invalid_options_are_an_argument_error_before_any_model_loads(capsys, options, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--model", "absent.gguf", "--mmproj", "absent.gguf", "--image", "absent.png",
              "--prompt", QUESTION, *options])  # fmt: skip
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_an_mmproj_no_handler_reads_is_refused(tmp_path):
    import gguf

    from adafv_llamacpp.cli import stock_handler_name

    path = tmp_path / "mmproj.gguf"
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_string("clip.projector_type", "pixtral")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    with pytest.raises(ValueError, match="has projector type 'pixtral'; the AdaFV handlers read"):
        stock_handler_name(path)


def _run(capsys, pair, picture: int, *options: str) -> tuple[int, str]:
    model, mmproj = pair
    status = main(
        [
            "--model", str(model),
            "--mmproj", str(mmproj),
            "--image", str(IMAGES / f"picture-{picture}.png"),
            "--prompt", QUESTION,
            *options,
            "--max-tokens", "3",
            "--threads", "2",
            "--n-ctx", "4096",
        ]
    )  # fmt: skip
    return status, capsys.readouterr().out


def _rows(out: str) -> dict[str, list[str]]:
    """The printed table's rows: label -> [stock, AdaFV]."""
    cells = [line.split("│") for line in out.splitlines() if "│" in line]
    return {cell[1].strip(): [c.strip() for c in cell[2:4]] for cell in cells}


def test_the_handler_follows_the_mmproj(
    gguf_pair, next_gguf_pair, qwen3_gguf_pair, gemma3_gguf_pair
):
    from adafv_llamacpp.cli import stock_handler_name

    names = [stock_handler_name(pair[1]) for pair in (gguf_pair, next_gguf_pair)]
    names += [stock_handler_name(pair[1]) for pair in (qwen3_gguf_pair, gemma3_gguf_pair)]
    assert names == [
        "Llava15ChatHandler",
        "Llava16ChatHandler",
        "Qwen25VLChatHandler",  # llama-cpp-python 0.3.36 has no Qwen3-VL handler of its own
        "MTMDChatHandler",  # the generic handler, with the GGUF's own chat template
    ]

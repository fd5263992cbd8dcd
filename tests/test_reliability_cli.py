"""Issue 16 through the command line: fine-tuned classifiers kept (item 1), batches survive (2), no overwrites
(7), one-line errors (8), label lists checked (10)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _video_utils import write_video

import tsm_models
from tsm_models.cli import main

pytest.importorskip("av")


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 5-class tsm_r18 whose class "2" always wins, as a saved folder, a .safetensors and a .pth."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("ft")
    model = tsm_models.create_model("tsm_r18", num_classes=5).eval()
    with torch.no_grad():
        model.fc.weight.normal_()
        model.fc.bias.copy_(torch.tensor([0.0, 0.0, 50.0, 0.0, 0.0]))
    model.save_pretrained(root / "saved")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(root / "ft.safetensors"))
    torch.save({"state_dict": state}, root / "ft.pth")
    write_video(root / "clip.mp4", 16, size=(64, 48))
    return {
        "saved": root / "saved",
        "safetensors": root / "ft.safetensors",
        "pth": root / "ft.pth",
        "video": root / "clip.mp4",
        "root": root,
    }


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("kind", ["saved", "safetensors", "pth"])
def test_predict_keeps_a_finetuned_classifier(finetuned, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "predict",
        str(finetuned["video"]),
        "-m",
        "tsm_r18",
        "--pretrained",
        str(finetuned[kind]),
        "--json",
        "--topk",
        "1",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    (result,) = _json_lines(capsys.readouterr().out)
    assert result["predictions"][0]["label"] == "2"


def test_explicit_num_classes_still_starts_a_new_head(finetuned) -> None:
    model = tsm_models.create_model("tsm_r18", pretrained=finetuned["safetensors"], num_classes=7)
    assert model.num_classes == 7
    assert tsm_models.create_model("tsm_r18", pretrained=finetuned["pth"]).num_classes == 5


def test_convert_and_export_keep_a_finetuned_classifier(finetuned, capsys: pytest.CaptureFixture[str]) -> None:
    out = finetuned["root"] / "converted"
    assert main(["convert", str(finetuned["pth"]), "--model", "tsm_r18", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["num_classes"] == 5
    pytest.importorskip("onnxruntime")
    onnx_path = finetuned["root"] / "x.onnx"
    argv = [
        "export",
        "tsm_r18",
        "--pretrained",
        str(finetuned["saved"]),
        "--onnx",
        str(onnx_path),
        "--frames",
        "8",
        "--img-size",
        "32",
        "--iters",
        "1",
    ]
    assert main(argv) == 0
    import onnx

    dims = onnx.load(str(onnx_path)).graph.output[0].type.tensor_type.shape.dim
    assert dims[-1].dim_value == 5


def _bomb_folder(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir()
    for n in range(1, 9):
        Image.fromarray(np.full((40, 50, 3), 100, np.uint8)).save(folder / f"img_{n:05}.jpg")
    jpg = bytearray((folder / "img_00001.jpg").read_bytes())
    i = jpg.find(b"\xff\xc0")
    jpg[i + 5 : i + 9] = (20000).to_bytes(2, "big") * 2
    for n in range(1, 9):
        (folder / f"img_{n:05}.jpg").write_bytes(bytes(jpg))
    return folder


def test_a_bomb_in_the_middle_does_not_abort_the_batch(tmp_path: Path, capsys, caplog) -> None:
    good = write_video(tmp_path / "good.mp4", 16, size=(64, 48))
    bomb = _bomb_folder(tmp_path / "bomb")
    argv = [
        "predict",
        str(good),
        str(bomb),
        str(good),
        "-m",
        "tsm_r18",
        "--no-pretrained",
        "--json",
        "--topk",
        "1",
        "--device",
        "cpu",
    ]
    assert main(argv) == 1
    results = _json_lines(capsys.readouterr().out)
    assert ["predictions" in r for r in results] == [True, False, True]
    assert "bomb" in results[1]["error"]
    assert "1 of 3 videos could not be classified" in caplog.text


def test_convert_refuses_a_folder_holding_other_files(finetuned, tmp_path: Path, caplog) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README.md").write_text("# my hand-written notes\n")
    (project / "config.json").write_text('{"my": "settings"}')
    argv = ["convert", str(finetuned["pth"]), "--model", "tsm_r18", "--out", str(project)]
    assert main(argv) != 0
    assert (project / "README.md").read_text() == "# my hand-written notes\n"
    assert (project / "config.json").read_text() == '{"my": "settings"}'
    assert "--overwrite" in caplog.text
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((project / "config.json").read_text())["num_classes"] == 5


def test_convert_to_an_unwritable_place_is_one_line(finetuned, tmp_path: Path, capsys, caplog) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["convert", str(finetuned["pth"]), "--model", "tsm_r18", "--out", str(blocker / "conv")]) == 1
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "a_file" in errors[0].getMessage()
    assert "Traceback" not in capsys.readouterr().err


def test_labels_file_shorter_than_the_outputs(tmp_path: Path, caplog) -> None:
    good = write_video(tmp_path / "good.mp4", 16, size=(64, 48))
    names = tmp_path / "labels3.txt"
    names.write_text("cut\nfold\npour\n")
    argv = ["predict", str(good), "-m", "tsm_r18", "--no-pretrained", "--labels", str(names), "--device", "cpu"]
    assert main(argv) == 2
    assert "3 labels" in caplog.text and "400 outputs" in caplog.text


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_stdout_is_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_video(tmp_path / "good.mp4", 16, size=(64, 48))
    shutil.copy(good, tmp_path / "again.mp4")
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    status = main(
        [
            "predict",
            str(good),
            str(tmp_path / "again.mp4"),
            "-m",
            "tsm_r18",
            "--no-pretrained",
            "--json",
            "--device",
            "cpu",
        ]
    )
    assert status == 1  # like `cmd | head -1`: stops quietly

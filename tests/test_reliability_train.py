"""Issue 16, item 8 (training side): broken resume files, annotation encodings, labels beyond the classes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _video_utils import write_video

from tsm_models.data.dataset import VideoDataset, create_loader, read_annotation_file
from tsm_models.models.zoo import ClipProtocol
from tsm_models.train.loop import evaluate, train_one_epoch
from tsm_models.train.optim import create_optimizer
from tsm_models.train.state import resume_train_state, save_train_state

PROTOCOL = ClipProtocol(num_frames=4, resize_short=40, crop_size=32, input_format="video")


@pytest.fixture
def last_pt(tmp_path: Path, tiny_tsm) -> Path:
    model = tiny_tsm()
    return save_train_state(tmp_path / "last.pt", model=model, optimizer=create_optimizer(model, lr=0.01), epoch=3)


@pytest.mark.parametrize("cut", ["half", "tail", "empty"])
def test_resume_from_a_broken_file_names_it(last_pt: Path, tiny_tsm, cut: str) -> None:
    data = last_pt.read_bytes()
    broken = last_pt.with_name(f"broken_{cut}.pt")
    broken.write_bytes({"half": data[: len(data) // 2], "tail": data[:-100], "empty": b""}[cut])
    with pytest.raises(ValueError, match=f"broken_{cut}.pt"):
        resume_train_state(broken, model=tiny_tsm())


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("echo never-run",))


def test_resume_refuses_a_pickle_payload_naming_the_global(tmp_path: Path, tiny_tsm) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": tiny_tsm().state_dict(), "epoch": 1, "x": Payload()}, path)
    with pytest.raises(ValueError, match="system") as info:
        resume_train_state(path, model=tiny_tsm())
    assert "evil.pt" in str(info.value)
    assert "weights_only=False" not in str(info.value) and "will likely succeed" not in str(info.value)


def test_resume_good_file_still_works(last_pt: Path, tiny_tsm) -> None:
    model = tiny_tsm()
    assert resume_train_state(last_pt, model=model, optimizer=create_optimizer(model, lr=0.01))["epoch"] == 3


def test_annotation_file_with_bom_is_read(tmp_path: Path) -> None:
    ann = tmp_path / "bom.txt"
    ann.write_bytes("\ufeffv0.mp4 0\nv1.mp4 1\n".encode())
    records = read_annotation_file(ann)
    assert [Path(r.path).name for r in records] == ["v0.mp4", "v1.mp4"]


def test_annotation_file_in_latin1_says_why(tmp_path: Path) -> None:
    ann = tmp_path / "latin1.txt"
    ann.write_bytes("v0.mp4 0\nvidéo.mp4 1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt:2.*UTF-8"):
        read_annotation_file(ann)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    for i in range(4):
        write_video(tmp_path / f"v{i}.mp4", 8, size=(48, 40))
    (tmp_path / "range.txt").write_text("v0.mp4 0\nv1.mp4 9\nv2.mp4 2\nv3.mp4 3\n")
    return tmp_path / "range.txt"


def test_label_beyond_the_classes_names_file_and_line(clips: Path, tiny_tsm) -> None:
    model = tiny_tsm().train()  # 5 classes
    dataset = VideoDataset.from_annotation_file(clips, PROTOCOL, train=True)
    loader = create_loader(dataset, batch_size=4, train=True)
    with pytest.raises(ValueError, match=r"range\.txt:2.*9"):
        train_one_epoch(model, loader, create_optimizer(model, lr=0.01), epoch=0, progress=False)
    test_set = VideoDataset.from_annotation_file(clips, PROTOCOL)
    with pytest.raises(ValueError, match=r"range\.txt:2"):
        evaluate(tiny_tsm(), create_loader(test_set, batch_size=4, train=False), progress=False)

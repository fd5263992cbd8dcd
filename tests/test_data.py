"""Datasets: MMAction2 annotation lists, folder-per-class trees, sampling/transform composition, workers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from tests._train_utils import PROTOCOL, write_frame_dataset, write_frame_folder
from tsm_models.data import VideoDataset, VideoRecord, create_loader, read_annotation_file, scan_class_folders
from tsm_models.data.sampling import sample_indices
from tsm_models.data.transforms import create_transform
from tsm_models.data.video import open_video

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def frames_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_frame_dataset(tmp_path_factory.mktemp("frames"), num_videos=6)


def test_read_video_and_rawframe_lists(tmp_path: Path) -> None:
    (tmp_path / "videos.txt").write_text("# comment\nrun/a.mp4 3\n\n  walk/b.mp4   0  \n")
    records = read_annotation_file(tmp_path / "videos.txt")
    assert records == [VideoRecord(str(tmp_path / "run/a.mp4"), 3), VideoRecord(str(tmp_path / "walk/b.mp4"), 0)]
    (tmp_path / "frames.txt").write_text("run/a 300 3\nwalk/b 120 0\n")
    records = read_annotation_file(tmp_path / "frames.txt", data_prefix="/data/k400")
    assert records == [VideoRecord("/data/k400/run/a", 3, 300), VideoRecord("/data/k400/walk/b", 0, 120)]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("a.mp4 1\nb.mp4\n", {}, r"list.txt:2: expected 2 fields 'path label'"),
        ("a 10 1\nb 10 x\n", {}, r"list.txt:2: label must be an integer, got 'x'"),
        ("a 10 1\nb 10\n", {}, r"list.txt:2: expected 3 fields 'dir total_frames label'"),
        ("a 0 1\n", {}, r"list.txt:1: total_frames must be >= 1"),
        ("\n# only a comment\n", {}, "no videos listed"),
        ("a.mp4 1\nb.mp4 7\n", {"num_classes": 5}, r"list.txt:2: label 7 is out of range for 5 classes"),
        ("a.mp4 1 2 3\n", {"raw_frames": False}, r"list.txt:1: expected 2 fields.*multi-label"),
        ("a.mp4 -1\n", {}, r"list.txt:1: label must be >= 0"),
    ],
)
def test_bad_annotation_lines_name_file_and_line(tmp_path: Path, text: str, kwargs: dict, match: str) -> None:
    (tmp_path / "list.txt").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_annotation_file(tmp_path / "list.txt", **kwargs)


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        read_annotation_file(tmp_path / "nope.txt")


def test_scan_class_folders(tmp_path: Path) -> None:
    for rel in ["walk/2.mp4", "walk/1.MP4", "run/x.avi", "run/notes.txt", "jump/.hidden.mp4"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    records, names = scan_class_folders(tmp_path)
    assert names == ["jump", "run", "walk"]
    assert [(Path(r.path).relative_to(tmp_path).as_posix(), r.label) for r in records] == [
        ("run/x.avi", 1),
        ("walk/1.MP4", 2),
        ("walk/2.mp4", 2),
    ]
    records, names = scan_class_folders(tmp_path, class_names=["walk", "run", "jump", "swim"])
    assert names == ["walk", "run", "jump", "swim"] and {r.label for r in records} == {0, 1}
    with pytest.raises(ValueError, match=r"class folders \['walk'\] are not among"):
        scan_class_folders(tmp_path, class_names=["run", "jump"])
    with pytest.raises(FileNotFoundError):
        scan_class_folders(tmp_path / "missing")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no video files"):
        scan_class_folders(tmp_path / "empty")


def test_test_items_compose_sampling_and_transform(frames_list: Path) -> None:
    dataset = VideoDataset.from_annotation_file(frames_list, PROTOCOL)
    transform = create_transform(PROTOCOL)
    for i in (0, 5):
        record = dataset.records[i]
        with open_video(record.path, PROTOCOL.filename_tmpl, PROTOCOL.start_index) as reader:
            expected = transform(reader.read(sample_indices(PROTOCOL, record.total_frames)))
        video, label = dataset[i]
        assert video.shape == (1, 4, 3, 32, 32) and label == record.label
        torch.testing.assert_close(video, expected, rtol=0, atol=0)


def test_annotation_frame_count_takes_precedence(frames_list: Path, tmp_path: Path) -> None:
    first = read_annotation_file(frames_list)[0]  # 6 frames on disk
    fewer = VideoDataset([dataclasses.replace(first, total_frames=4)], PROTOCOL)
    with open_video(first.path, PROTOCOL.filename_tmpl) as reader:
        expected = create_transform(PROTOCOL)(reader.read(sample_indices(PROTOCOL, 4)))
    torch.testing.assert_close(fewer[0][0], expected, rtol=0, atol=0)
    more = VideoDataset([dataclasses.replace(first, total_frames=60)], PROTOCOL)
    with pytest.raises(ValueError, match="annotation says 60 frames but only 6"):
        more[0]


def test_multi_view_protocols(frames_list: Path) -> None:
    dense = dataclasses.replace(PROTOCOL, sampling="dense", num_clips=3, crop="three", resize_short=32)
    video, _ = VideoDataset.from_annotation_file(frames_list, dense)[0]
    assert video.shape == (9, 4, 3, 32, 32)  # 3 crops x 3 clips, crop-major


def test_training_items_are_seeded_per_epoch_and_index(frames_list: Path) -> None:
    dataset = VideoDataset.from_annotation_file(frames_list, PROTOCOL, train=True, flip=True, seed=3)
    a, label = dataset[2]
    assert a.shape == (4, 3, 32, 32) and label == 2
    torch.testing.assert_close(dataset[2][0], a, rtol=0, atol=0)
    dataset.set_epoch(1)
    assert not torch.equal(dataset[2][0], a)
    dataset.set_epoch(0)
    torch.testing.assert_close(dataset[2][0], a, rtol=0, atol=0)


def test_loader_workers_give_the_same_batches(frames_list: Path) -> None:
    dataset = VideoDataset.from_annotation_file(frames_list, PROTOCOL, train=True, flip=True)

    def batches(workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        loader = create_loader(dataset, batch_size=2, train=True, num_workers=workers, seed=1)
        loader.sampler.set_epoch(1)
        dataset.set_epoch(1)
        return list(loader)

    single, multi = batches(0), batches(2)
    assert len(single) == len(multi) == 3
    for (x0, y0), (x1, y1) in zip(single, multi, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_video_file_tree(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from tests._video_utils import write_video

    for cls, n in (("left", 10), ("right", 14)):
        (tmp_path / cls).mkdir()
        write_video(tmp_path / cls / "clip.mp4", n, size=(48, 40))
    train = VideoDataset.from_folder(tmp_path, PROTOCOL, train=True)
    assert train.class_names == ["left", "right"] and train.num_classes == 2
    video, label = train[1]
    assert video.shape == (4, 3, 32, 32) and label == 1
    (tmp_path / "right" / "broken.mp4").write_bytes(b"not a video")
    broken = VideoDataset.from_folder(tmp_path, PROTOCOL)
    index = next(i for i, r in enumerate(broken.records) if r.path.endswith("broken.mp4"))
    with pytest.raises(ValueError, match=r"broken\.mp4"):
        broken[index]


def test_bad_arguments(frames_list: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        VideoDataset([], PROTOCOL)
    with pytest.raises(ValueError, match="protocol must be"):
        VideoDataset(read_annotation_file(frames_list), "kinetics")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        create_loader(VideoDataset(read_annotation_file(frames_list), PROTOCOL), 0, train=False)
    rec = VideoRecord(str(frames_list.parent / "v0"), 0)
    write_frame_folder(frames_list.parent / "v0", 6, 0)  # unchanged files
    assert VideoDataset([rec], PROTOCOL)[0][0].shape == (1, 4, 3, 32, 32)  # frame count read from disk

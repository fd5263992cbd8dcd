"""Training loop, evaluation, checkpoints: a resumed run equals an uninterrupted one, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests._train_utils import PROTOCOL, tiny_tsm, write_frame_dataset
from tsm_models.data import VideoDataset, create_loader
from tsm_models.train import (
    JsonLogger,
    evaluate,
    prepare_model,
    resume_train_state,
    save_train_state,
    seed_everything,
    to_channels_last,
    train_one_epoch,
)
from tsm_models.train.optim import create_optimizer, create_scheduler

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_frame_dataset(tmp_path_factory.mktemp("frames"), num_videos=8)


def _run(ann_file: Path, ckpt: Path, stop: int, resume: bool, seed: int, restore_rng: bool = True) -> dict:
    """Train epochs [start, stop) of a 2-epoch run (random sampling, crops, flips, dropout), saving each epoch."""
    seed_everything(seed)
    dataset = VideoDataset.from_annotation_file(ann_file, PROTOCOL, train=True, flip=True, seed=0)
    loader = create_loader(dataset, batch_size=2, train=True, seed=0)
    model = tiny_tsm()
    optimizer = create_optimizer(model, lr=0.05)
    scheduler = create_scheduler(optimizer, epochs=2, steps_per_epoch=len(loader), schedule="cosine", warmup_epochs=0.5)
    start = 0
    if resume:
        state = resume_train_state(ckpt, model=model, optimizer=optimizer, scheduler=scheduler, restore_rng=restore_rng)
        start = state["epoch"]
    for epoch in range(start, stop):
        loader.sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        train_one_epoch(model, loader, optimizer, scheduler=scheduler, epoch=epoch, progress=False)
        save_train_state(ckpt, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch + 1, note="x")
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "lr": scheduler.get_last_lr()}


def _equal(a: dict, b: dict) -> bool:
    if a["lr"] != b["lr"]:
        return False
    if any(not torch.equal(a["model"][k], b["model"][k]) for k in a["model"]):
        return False
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k]["momentum_buffer"], sb[k]["momentum_buffer"]) for k in sa)


def test_resume_continues_exactly(ann_file: Path, tmp_path: Path) -> None:
    straight = _run(ann_file, tmp_path / "a.pt", stop=2, resume=False, seed=0)
    _run(ann_file, tmp_path / "b.pt", stop=1, resume=False, seed=0)
    assert resume_train_state(tmp_path / "b.pt", model=tiny_tsm())["extra"] == {"note": "x"}
    # a fresh "process" with other global RNG draws before resuming
    resumed = _run(ann_file, tmp_path / "b.pt", stop=2, resume=True, seed=123)
    assert _equal(straight, resumed)
    assert not list(tmp_path.glob(".*tmp"))
    # control: without the saved RNG states (dropout masks, loader seeds) the runs diverge
    _run(ann_file, tmp_path / "c.pt", stop=1, resume=False, seed=0)
    diverged = _run(ann_file, tmp_path / "c.pt", stop=2, resume=True, seed=123, restore_rng=False)
    assert not _equal(straight, diverged)


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        resume_train_state(tmp_path / "missing.pt", model=tiny_tsm())
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        resume_train_state(tmp_path / "other.pt", model=tiny_tsm())
    model = tiny_tsm()
    save_train_state(tmp_path / "m.pt", model=model, epoch=3)
    with pytest.raises(ValueError, match="no optimizer state"):
        resume_train_state(tmp_path / "m.pt", model=model, optimizer=create_optimizer(model, lr=0.1))


def test_evaluate_averages_views_and_logs(ann_file: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = tiny_tsm(dropout=0.0).eval()
    dataset = VideoDataset.from_annotation_file(ann_file, PROTOCOL)
    log = JsonLogger(tmp_path / "log.jsonl")
    loader = create_loader(dataset, 3, train=False)
    result = evaluate(model, loader, average="prob", logger=log, epoch=0, progress=False)
    videos = torch.stack([dataset[i][0] for i in range(len(dataset))])  # (N, 1, T, 3, S, S)
    with torch.no_grad():
        probs = model(videos.flatten(0, 1)).softmax(-1)
    torch.testing.assert_close(result.scores, probs)
    assert result.labels.tolist() == dataset.labels
    assert result.metrics["num_samples"] == 8
    assert result.metrics["top1"] == pytest.approx((probs.argmax(1) == result.labels).float().mean().item())
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert record["mode"] == "val" and record["epoch"] == 0 and record["top1"] == result.metrics["top1"]
    # two views per video: 'score' averages logits over the view axis
    two = TensorDataset(torch.cat([videos, videos.flip(2)], 1), result.labels)
    scored = evaluate(model, DataLoader(two, batch_size=4), average="score", progress=False)
    with torch.no_grad():
        expected = (model(videos[:, 0]) + model(videos[:, 0].flip(1))) / 2
    torch.testing.assert_close(scored.scores, expected)
    files = scored.save(tmp_path / "report", class_names=["a", "b", "c"])
    assert {f.name for f in files} >= {"metrics.json", "per_class_accuracy.csv", "confusion_matrix.csv"}
    rows = (tmp_path / "report" / "per_class_accuracy.csv").read_text().splitlines()
    assert rows[0] == "class_index,class_name,num_samples,accuracy" and rows[1].startswith("0,a,3,")


def _batches(n: int = 8, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 3, 32, 32, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=4)


def test_grad_clip_bounds_the_update() -> None:
    torch.manual_seed(0)
    model = tiny_tsm(dropout=0.0)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loader = [next(iter(_batches()))]
    train_one_epoch(model, loader, opt, epoch=0, grad_clip_norm=1e-3, progress=False)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True)))
    assert step.item() == pytest.approx(1e-3, rel=1e-3)


def test_to_channels_last_stores_each_frame_hwc() -> None:
    video = torch.randn(2, 3, 3, 5, 7)
    out = to_channels_last(video)
    assert torch.equal(out, video) and out.stride() == (3 * 105, 105, 1, 21, 3)
    assert out.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
    assert to_channels_last(video[0]).is_contiguous(memory_format=torch.channels_last)


def test_training_options_agree(tmp_path: Path) -> None:
    """bf16 autocast, channels-last and gradient checkpointing run and track the fp32 loss."""

    def loss_with(**kwargs: object) -> float:
        torch.manual_seed(0)
        model = prepare_model(
            tiny_tsm(dropout=0.0),
            channels_last=bool(kwargs.pop("channels_last_model", False)),
            grad_checkpointing=bool(kwargs.pop("ckpt", False)),
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return train_one_epoch(model, _batches(), opt, epoch=0, progress=False, **kwargs)["loss"]

    reference = loss_with()
    assert loss_with(ckpt=True) == pytest.approx(reference, abs=1e-6)
    assert loss_with(channels_last_model=True, channels_last=True) == pytest.approx(reference, abs=1e-5)
    assert loss_with(amp="bf16") == pytest.approx(reference, abs=5e-2)
    log = JsonLogger(tmp_path / "train.jsonl")
    model = tiny_tsm()
    stats = train_one_epoch(
        model, _batches(), torch.optim.SGD(model.parameters(), lr=0.1), epoch=2, logger=log, log_interval=1
    )
    records = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [r["mode"] for r in records] == ["train", "train", "train_epoch"]
    assert records[-1]["loss"] == pytest.approx(stats["loss"]) and stats["clips"] == 8
    with pytest.raises(ValueError, match="fp16 autocast needs a CUDA"):
        train_one_epoch(model, _batches(), torch.optim.SGD(model.parameters(), lr=0.1), epoch=0, amp="fp16")


def test_seed_everything_rejects_bad_seeds() -> None:
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)
    with pytest.raises(ValueError, match="set_grad_checkpointing"):
        prepare_model(nn.Linear(2, 2), grad_checkpointing=True)

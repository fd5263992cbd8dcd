"""The TSM recipe: MMAction2 param groups, lr scaling, schedules, partial BN."""

from __future__ import annotations

import itertools

import pytest
import torch
from timm.models.resnet import BasicBlock
from torch import nn

import tsm_models
from tsm_models.train.optim import (
    create_optimizer,
    create_scheduler,
    default_weight_decay,
    freeze_bn,
    lr_factor,
    param_groups,
    scale_lr,
)


def _tiny(num_classes: int = 5) -> tsm_models.TSM:
    return tsm_models.TSM(
        BasicBlock, (1, 1, 1, 1), num_classes=num_classes, num_segments=4, channels=(8, 16, 16, 16), stem_width=8
    )


def test_param_groups_follow_tsm_optimizer_constructor() -> None:
    model = tsm_models.create_model("tsm_r18", num_classes=7)
    groups = {g["name"]: g for g in param_groups(model, lr=0.01, weight_decay=1e-4)}
    assert set(groups) == {"first_conv_weight", "normal_weight", "normal_bias", "bn", "lr5_weight", "lr10_bias"} - {
        "normal_bias"
    }  # a ResNet's convs have no bias and its only Linear is the classifier
    assert groups["first_conv_weight"]["params"] == [model.conv1.weight]
    assert groups["lr5_weight"]["params"] == [model.fc.weight]
    assert groups["lr10_bias"]["params"] == [model.fc.bias]
    expected = {
        "first_conv_weight": (0.01, 1e-4),
        "normal_weight": (0.01, 1e-4),
        "bn": (0.01, 0.0),
        "lr5_weight": (0.05, 1e-4),
        "lr10_bias": (0.1, 0.0),
    }
    for name, (lr, wd) in expected.items():
        assert groups[name]["lr"] == pytest.approx(lr), name
        assert groups[name]["weight_decay"] == pytest.approx(wd), name
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(groups["normal_weight"]["params"]) == len(convs) - 1
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(groups["bn"]["params"]) == 2 * len(bns)
    # every parameter exactly once
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_param_groups_without_fc_lr5_and_with_frozen_params() -> None:
    model = _tiny()
    freeze_bn(model, keep_first=False)
    groups = {g["name"]: g for g in param_groups(model, lr=0.1, weight_decay=5e-4, fc_lr5=False)}
    assert "bn" not in groups and "lr5_weight" not in groups
    assert any(p is model.fc.weight for p in groups["normal_weight"]["params"])
    assert groups["normal_bias"]["params"] == [model.fc.bias]
    assert groups["normal_bias"]["lr"] == pytest.approx(0.2) and groups["normal_bias"]["weight_decay"] == 0.0


def test_param_groups_rejects_unknown_parametrised_modules() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.PReLU(), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="PReLU"):
        param_groups(model, lr=0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        param_groups(nn.Linear(2, 2), lr=0.0)


def test_create_optimizer_is_sgd_with_momentum() -> None:
    opt = create_optimizer(_tiny(), lr=0.02, weight_decay=1e-4)
    assert isinstance(opt, torch.optim.SGD)
    assert all(g["momentum"] == 0.9 and not g["nesterov"] for g in opt.param_groups)
    assert [g["lr_mult"] for g in opt.param_groups] == [1.0, 1.0, 1.0, 5.0, 10.0]


def test_scale_lr_and_weight_decay_defaults() -> None:
    assert scale_lr(64) == pytest.approx(0.01)
    assert scale_lr(16) == pytest.approx(0.0025)
    assert scale_lr(48, base_lr=0.0075, base_batch_size=48) == pytest.approx(0.0075)
    assert default_weight_decay("sthv2") == 5e-4 and default_weight_decay("sthv1") == 5e-4
    assert default_weight_decay("kinetics400") == 1e-4
    with pytest.raises(ValueError, match="batch_size"):
        scale_lr(0)


def test_step_schedule_with_warmup_keeps_group_multiples() -> None:
    opt = create_optimizer(_tiny(), lr=0.1)
    sched = create_scheduler(opt, epochs=5, steps_per_epoch=4, schedule="step", milestones=(2, 4), warmup_epochs=1)
    lrs = []
    for _ in range(20):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    base = [lr[0] for lr in lrs]
    # warmup 0.1 -> 1 over the first 4 steps, then 1, x0.1 at step 8, x0.01 at step 16
    assert base[:4] == pytest.approx([0.01, 0.0325, 0.055, 0.0775])
    assert base[4:8] == pytest.approx([0.1] * 4)
    assert base[8:16] == pytest.approx([0.01] * 8)
    assert base[16:] == pytest.approx([0.001] * 4)
    assert all(lr[-1] == pytest.approx(10 * lr[0]) and lr[-2] == pytest.approx(5 * lr[0]) for lr in lrs)


def test_cosine_schedule() -> None:
    factors = [lr_factor(s, total_steps=10, schedule="cosine", warmup_steps=2, min_factor=0.1) for s in range(11)]
    assert factors[0] == pytest.approx(0.1) and factors[2] == pytest.approx(1.0)
    assert factors[6] == pytest.approx(0.55)  # half way through the cosine part
    assert factors[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factors[2:]))
    with pytest.raises(ValueError, match="schedule"):
        create_scheduler(create_optimizer(_tiny(), lr=0.1), epochs=1, steps_per_epoch=1, schedule="poly")


def test_freeze_bn_keeps_the_first_layer_training() -> None:
    model = _tiny()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    model.train()
    assert freeze_bn(model) == len(bns) - 1
    before = [bn.running_mean.clone() for bn in bns]
    model(torch.randn(2, 4, 3, 32, 32))
    assert not torch.equal(bns[0].running_mean, before[0])  # the first BN still updates its statistics
    assert all(torch.equal(bn.running_mean, b) for bn, b in zip(bns[1:], before[1:], strict=True))
    assert bns[0].weight.requires_grad and not any(bn.weight.requires_grad for bn in bns[1:])

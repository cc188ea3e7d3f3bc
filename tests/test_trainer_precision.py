"""bf16 autocast is kept where the CPU computes bf16 and dropped where it would be emulated."""

from __future__ import annotations

import pytest

from ganlab.utils import trainer as trainer_module
from ganlab.utils.trainer import build_trainer, runnable_precision


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_the_cpu_follows_the_hardware(monkeypatch, native) -> None:
    monkeypatch.setattr(trainer_module, "native_cpu_bf16", lambda: native)
    assert runnable_precision("bf16-mixed", "cpu") == ("bf16-mixed" if native else "32-true")


def test_other_precisions_and_gpus_are_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(trainer_module, "native_cpu_bf16", lambda: False)
    assert runnable_precision("32-true", "cpu") == "32-true"
    assert runnable_precision("bf16-mixed", "gpu") == "bf16-mixed"
    assert runnable_precision("bf16-mixed", "cuda") == "bf16-mixed"


def test_the_trainer_gets_the_fallback(monkeypatch, caplog) -> None:
    monkeypatch.setattr(trainer_module, "native_cpu_bf16", lambda: False)
    trainer = build_trainer({"accelerator": "cpu", "devices": 1, "precision": "bf16-mixed"})
    assert trainer.precision == "32-true"
    assert "no bf16 instructions" in caplog.text

"""Live quality: measurements during a run, their schedule, their file, and the guard's use of them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cgan_core.output.quality import (
    TARGET_COST,
    LiveQuality,
    QualityReport,
    auto_interval,
    classifier_ready,
    prepare_live_quality,
)
from cgan_core.run.events import RolledBack
from cgan_core.run.guard import CollapseMonitor
from cgan_core.run.loop import RunLoop
from cgan_core.run.quality_file import append_report, load_reports
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


@pytest.fixture(scope="module")
def live(classifier, small_sets):
    train, test = small_sets
    return LiveQuality(classifier, train, test, per_class=20)


def real_image_generator(data, output_range="tanh"):
    """A 'generator' that returns real images of the requested classes (in the tanh range)."""
    def generate(z, labels):
        picks = torch.stack([torch.nonzero(data.labels == int(c)).flatten()[i % 50] for i, c in enumerate(labels)])
        return data.images[picks].float() / 127.5 - 1
    return generate


def test_real_images_score_high_and_noise_low(live, small_sets):
    _, test = small_sets
    good = live.measure(real_image_generator(test), 8, "tanh", step=1)
    noise = live.measure(lambda z, c: torch.rand(len(c), 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1,
                         8, "tanh", step=2)
    assert good.accuracy > 0.85 and min(good.per_class) > 0.5 and len(good.per_class) == 10
    assert noise.accuracy < 0.3
    assert good.frechet < noise.frechet / 10 and good.floor < noise.frechet
    assert 0.6 < good.diversity < 1.4 and good.seconds > 0


def test_measurement_is_deterministic(live, small_sets):
    first = live.measure(real_image_generator(small_sets[1]), 8, "tanh", step=1)
    again = live.measure(real_image_generator(small_sets[1]), 8, "tanh", step=1)
    assert first.accuracy == again.accuracy and first.frechet == again.frechet and first.per_class == again.per_class


def test_auto_interval_keeps_the_cost_under_five_percent():
    assert auto_interval(0.5, 0.1, minimum=100, target=0.05) == 100  # 0.5 s per 10 s of training = 5%
    assert auto_interval(0.5, 0.01, minimum=100, target=0.05) == 1000
    interval = auto_interval(0.37, 0.013, minimum=10)
    assert 0.37 / (interval * 0.013) <= TARGET_COST <= 0.05


def test_a_run_measures_on_schedule_writes_quality_csv_and_resume_truncates(tmp_path, live, tiny_mnist):
    config = TrainConfig(preset="studio-fast", batch_size=16, device="cpu", latent_dim=8, steps=12,
                         stats_every=4)
    run = TrainingRun(config, out=tmp_path / "run", dataset=tiny_mnist)
    run.enable_quality(live, every=5)
    reports = [e for e in RunLoop(run).events() if isinstance(e, QualityReport)]
    run.close()
    assert [r.step for r in reports] == [5, 10]
    on_disk = load_reports(tmp_path / "run")
    assert [r.step for r in on_disk] == [5, 10] and on_disk[1].per_class == pytest.approx(reports[1].per_class, abs=1e-4)
    # Resume from step 12's checkpoint with a shorter history: reports past the checkpoint go.
    append_report(tmp_path / "run", QualityReport(99, 0.5, (0.5,) * 10, 1.0, 1.0, 1.0, 0.1), tiny_mnist.class_names)
    TrainingRun(config, dataset=tiny_mnist, resume=tmp_path / "run", overrides={"steps": 20}).close()
    assert [r.step for r in load_reports(tmp_path / "run")] == [5, 10]


class ScriptedQuality(LiveQuality):
    """Reports a fixed sequence of per-class accuracies: the guard's reaction is what is tested."""

    def __init__(self, per_class_sequence):
        self.sequence = list(per_class_sequence)

    def measure(self, generate, latent_dim, output_range, step):
        per_class = tuple(self.sequence.pop(0))
        return QualityReport(step, float(np.mean(per_class)), per_class, 10.0, 1.0, 1.0, 0.01)


def test_a_class_whose_accuracy_is_lost_rolls_back(tmp_path, tiny_mnist):
    config = TrainConfig(preset="studio-fast", batch_size=16, device="cpu", latent_dim=8, steps=200)
    run = TrainingRun(config, out=tmp_path / "run", dataset=tiny_mnist, guard={"snapshot_every": 5})
    learnt, lost = [0.9] * 10, [0.9] * 3 + [0.1] + [0.9] * 6
    # learnt for three measurements in a row, then lost for two: one low reading is not enough
    run.enable_quality(ScriptedQuality([learnt, learnt, learnt, lost, lost]), every=10)
    rollbacks = []
    while not rollbacks and run.step_count < 60:
        rollbacks = [e for e in run.step() if isinstance(e, RolledBack)]
    run.close()
    assert rollbacks[0].from_step == 50 and rollbacks[0].reason == "class_collapse" and "class 3" in rollbacks[0].detail


def test_accuracy_monitor_needs_the_class_learnt_first():
    monitor = CollapseMonitor(np.ones(2), fraction=0.4, reach=0.8)
    assert monitor.check(np.array([0.1, 0.5])) is None  # never learnt: not a collapse
    for _ in range(3):
        assert monitor.check(np.array([0.85, 0.5])) is None
    assert monitor.check(np.array([0.6, 0.2])) is None  # class 1 never reached 0.8
    assert monitor.check(np.array([0.3, 0.2]), 70) is None  # class 0: one reading below 0.4 ...
    assert monitor.check(np.array([0.3, 0.2]), 80) == (0, 70)  # ... and a second in a row


def test_prepare_trains_once_then_reports_ready(classifier, small_sets):
    train, test = small_sets
    assert classifier_ready(train)  # the session's classifier fixture trained and cached it
    seen = []
    live = prepare_live_quality(train, test, progress=seen.append, per_class=5)
    assert not seen and live.per_class == 5  # cached: no training, no progress


def test_the_best_generator_is_kept_and_run_best_samples_from_it(tmp_path, tiny_mnist, cli_here):
    from cgan_core.errors import CheckpointError
    from cgan_core.output.checkpoint import load_generator, read_generator_metadata
    from cgan_core.run.folder_reader import generator_path

    config = TrainConfig(preset="studio-fast", batch_size=16, device="cpu", latent_dim=8, steps=100)
    run = TrainingRun(config, out=tmp_path / "run", dataset=tiny_mnist, guard={"enabled": False})
    accuracies = [0.3, 0.7, 0.9, 0.6, 0.5]  # quality oscillates: the peak is at step 30
    run.enable_quality(ScriptedQuality([[a] * 10 for a in accuracies]), every=10)
    peak = None
    while run.step_count < 50:
        events = run.step()
        if run.step_count == 30:
            peak = {k: v.clone() for k, v in run.trainer.sampler.state_dict().items()}
        assert not any(type(e).__name__ == "BestSaved" and e.step > 30 for e in events)
    run.finish("stopped")
    run.close()
    meta = read_generator_metadata(tmp_path / "run" / "best.safetensors")
    assert meta["step"] == "30" and float(meta["accuracy"]) == pytest.approx(0.9)
    g, _ = load_generator(generator_path(tmp_path / "run" / "best"))
    assert all(torch.equal(v, peak[k]) for k, v in g.state_dict().items())  # the peak's weights exactly
    # A resumed run keeps comparing against the saved best: a worse measurement does not replace it.
    resumed = TrainingRun(config, resume=tmp_path / "run", dataset=tiny_mnist, guard={"enabled": False})
    resumed.enable_quality(ScriptedQuality([[0.8] * 10]), every=10)
    while resumed.step_count < 60:
        resumed.step()
    resumed.close()
    assert read_generator_metadata(tmp_path / "run" / "best.safetensors")["step"] == "30"
    rc, _, err = cli_here("sample", tmp_path / "run" / "best", "--out", tmp_path / "best.png")
    assert rc == 0 and (tmp_path / "best.png").stat().st_size > 100, err
    (tmp_path / "plain").mkdir()
    with pytest.raises(CheckpointError, match="no best.safetensors"):
        generator_path(tmp_path / "plain" / "best")

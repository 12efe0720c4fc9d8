"""Live figures in features the selection never saw: KID with its spread and the per-class Fréchet distance
in a seeded random network's features, in every report and in quality.csv; and --best-by independent,
which picks the best generator, a fork's variants and a sweep's objective by them."""
from __future__ import annotations

import math

import pytest
import torch

from cgan_core.errors import ConfigError
from cgan_core.output.quality import (
    LiveQuality,
    QualityReport,
    QualityTracker,
    best_so_far,
    is_better,
    objective,
)
from cgan_core.run.autotune import clearly_better
from cgan_core.run.folder_reader import RunTail
from cgan_core.run.loop import RunLoop
from cgan_core.run.quality_file import QUALITY_FILE, append_report, load_reports
from cgan_core.run.resume import resumed_config
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import BestBy, TrainConfig

NAMES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def live(classifier, small_sets):
    train, test = small_sets
    return LiveQuality(classifier, train, test, per_class=20)


def replaying(data, offset: int = 0):
    """A 'generator' that draws real images of the classes asked for (tanh range)."""
    def generate(z, labels):
        picks = torch.stack([torch.nonzero(data.labels == int(c)).flatten()[offset + i % 20] for i, c in enumerate(labels)])
        return data.images[picks].float() / 127.5 - 1
    return generate


def report(step: int, accuracy: float, intra: float, kid: float = 0.01) -> QualityReport:
    return QualityReport(step, accuracy, (accuracy,) * 10, 10.0, 1.0, 1.0, 0.01, kid, kid / 10, (intra,) * 10, 2.0)


def test_real_images_sit_at_the_floor_and_noise_far_from_it(live, small_sets):
    train, _ = small_sets
    good = live.measure(replaying(train, offset=100), 8, "tanh", step=1)  # unseen by the floor's picks? most
    noise = live.measure(lambda z, c: torch.rand(len(c), 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1,
                         8, "tanh", step=2)
    assert len(good.intra_frechet) == 10 and math.isfinite(good.kid) and good.kid_spread >= 0
    assert good.intra_mean < 1.5 * good.intra_floor  # real images of each class: about the real floor
    assert noise.intra_mean > 3 * good.intra_floor and min(noise.intra_frechet) > max(good.intra_frechet)
    assert noise.kid > 10 * max(good.kid, good.kid_spread)


def test_one_class_drawn_wrong_shows_in_its_row_only(live, small_sets):
    train, _ = small_sets
    right = replaying(train, offset=100)

    def ones_drawn_as_zeros(z, labels):
        return right(z, torch.where(labels == 1, torch.zeros_like(labels), labels))
    wrong = live.measure(ones_drawn_as_zeros, 8, "tanh", step=1)
    good = live.measure(right, 8, "tanh", step=1)
    others = [d for c, d in enumerate(wrong.intra_frechet) if c != 1]
    # the row of 1 rises above its own value (3.3x here) and above every other class's; the others stay
    assert wrong.intra_frechet[1] > 2 * good.intra_frechet[1] and wrong.intra_frechet[1] > max(others)
    assert others == pytest.approx([d for c, d in enumerate(good.intra_frechet) if c != 1])


def test_quality_csv_keeps_the_independent_figures_and_reads_older_files(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir(), old.mkdir()
    r = report(10, 0.9, 3.5, kid=0.0123)
    append_report(new, r, NAMES)
    [back] = load_reports(new)
    assert back.kid == pytest.approx(0.0123) and back.intra_frechet == pytest.approx(r.intra_frechet)
    assert back.intra_floor == pytest.approx(2.0) and back.per_class == pytest.approx(r.per_class)
    # A folder from before the independent figures: its header stays, its rows stay readable, a resumed
    # run appends rows of that layout, and the missing figures read as NaN, never as 0.
    (old / QUALITY_FILE).write_text("step,accuracy,frechet,floor,diversity,seconds," +
                                    ",".join(f"acc_{n}" for n in NAMES) + "\n5,0.5,9,1,1,0.1" + ",0.5" * 10 + "\n")
    append_report(old, r, NAMES)
    reports = load_reports(old)
    assert [x.step for x in reports] == [5, 10] and all(math.isnan(x.kid) and x.intra_frechet == () for x in reports)
    assert reports[1].per_class == pytest.approx(r.per_class)
    # A row cut short by a crash is dropped, not read with classes missing
    with open(new / QUALITY_FILE, "a") as f:
        f.write("20,0.9,10,1,1,0.01,0.01,0.001,2.0,0.9,0.9\n")
    assert [x.step for x in load_reports(new)] == [10]


def test_a_followed_run_reads_the_independent_figures(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    tail = RunTail(tmp_path)
    append_report(tmp_path, report(10, 0.9, 3.5), NAMES)
    [got] = [e for e in tail.poll() if isinstance(e, QualityReport)]
    append_report(tmp_path, report(20, 0.8, 2.5), NAMES)
    [then] = [e for e in tail.poll() if isinstance(e, QualityReport)]
    assert (got.step, then.step) == (10, 20) and then.intra_mean == pytest.approx(2.5)


def test_independently_the_lower_per_class_distance_wins_whatever_the_accuracy():
    by = BestBy.INDEPENDENT
    assert is_better(report(1, 0.5, 3.0), (0.99, 3.5), by)  # the classifier's verdict plays no part
    assert not is_better(report(1, 0.99, 3.6), (0.5, 3.5), by)
    assert not is_better(QualityReport(1, 0.9, (0.9,) * 10, 1.0, 1.0, 1.0, 0.1), None, by)  # not measured: never best
    assert is_better(report(1, 0.99, 3.6), (0.5, 3.5), BestBy.CLASSIFIER)
    assert objective(report(1, 0.5, 3.0), by) == pytest.approx(-1.5)  # floor 2.0
    assert objective(report(1, 0.5, 3.0), by) > objective(report(1, 0.99, 4.0), by)
    assert clearly_better((0.5, 2.9), (0.99, 3.5), by) and not clearly_better((0.99, 3.2), (0.5, 3.5), by)


def test_a_run_picks_its_best_by_the_independent_figure_and_a_resume_keeps_the_rule(tmp_path, tiny_mnist):
    from cgan_core.output.checkpoint import read_generator_metadata

    class Scripted(LiveQuality):
        def __init__(self, reports):
            self.reports = list(reports)

        def measure(self, generate, latent_dim, output_range, step):
            accuracy, intra = self.reports.pop(0)
            return report(step, accuracy, intra)

    config = TrainConfig(preset="studio-fast", batch_size=16, device="cpu", latent_dim=8, steps=40,
                         best_by="independent")
    run = TrainingRun(config, out=tmp_path / "run", dataset=tiny_mnist, guard={"enabled": False})
    # accuracy peaks at step 20; the per-class distance is lowest at step 30
    run.enable_quality(Scripted([(0.5, 5.0), (0.95, 4.0), (0.6, 3.0), (0.9, 3.8), (0.9, 3.9)]), every=10)
    list(RunLoop(run).events())
    run.close()
    meta = read_generator_metadata(tmp_path / "run" / "best.safetensors")
    assert meta["step"] == "30" and meta["best_by"] == "independent" and float(meta["intra_frechet"]) == pytest.approx(3.0)
    assert best_so_far(tmp_path / "run" / "best.safetensors", BestBy.INDEPENDENT) == pytest.approx((0.6, 3.0))
    tracker = QualityTracker(best_so_far(tmp_path / "run" / "best.safetensors", BestBy.INDEPENDENT), BestBy.INDEPENDENT)
    assert not tracker.take_if_best(report(50, 0.99, 3.1)) and tracker.take_if_best(report(60, 0.1, 2.9))
    saved = TrainConfig(**config.to_dict()).to_dict()
    with pytest.raises(ConfigError, match="--best-by classifier"):
        resumed_config(saved, {"best_by": "classifier", "steps": 80})
    assert resumed_config(saved, {"steps": 80}).selection is BestBy.INDEPENDENT


def test_a_bad_rule_is_named(cli_here):
    code, _, err = cli_here("train", "--steps", "1", "--best-by", "vibes")
    assert code == 2 and "--best-by" in err and "vibes" in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="--best-by"):
        TrainConfig(best_by="vibes").validate()

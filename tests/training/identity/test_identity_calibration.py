"""The open-set fold protocol and the scoring rules, on embeddings whose answers are known."""

import numpy as np
import pytest

from edge.config import REPO_ROOT
from edge.identity.embedders import FaceDescriptorEmbedder
from edge.manifest import ModelManifest
from training.identity.calibration import SCORERS, fold_scores, operating_point


def synthetic_people(n_people=40, photos=5, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 32))
    people = {}
    for i, c in enumerate(centres):
        v = c + noise * rng.normal(size=(photos, 32))
        people[f"p{i:02d}"] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return people


def test_every_person_is_a_stranger_in_exactly_one_fold():
    people = synthetic_people()
    genuine, right, strangers = fold_scores(people, SCORERS["nearest"], folds=5, enroll=3)
    assert len(strangers) == sum(len(v) for v in people.values())  # each photo probed once as a stranger
    assert len(genuine) == 5 * 32 * 2  # each fold: 32 people enrolled, 2 probes each
    assert right.mean() > 0.95


def test_the_template_beats_the_nearest_face_on_noisy_photos_and_the_operating_point_holds():
    people = synthetic_people(noise=0.9)
    points = {
        rule: operating_point(*fold_scores(people, SCORERS[rule]), max_far=0.02) for rule in ("nearest", "template")
    }
    assert all(p["strangers_named"] <= 0.02 for p in points.values())
    assert points["template"]["named_correctly"] > points["nearest"]["named_correctly"]
    with pytest.raises(ValueError):
        operating_point(np.array([0.5]), np.array([True]), np.array([0.9]), max_far=0.0)


def test_the_shipped_threshold_comes_from_the_manifest():
    manifest = ModelManifest(REPO_ROOT / "models")
    calibration = manifest.entry("face_descriptor_128")["calibration"]
    embedder = FaceDescriptorEmbedder.from_manifest(manifest, backend="torch")
    assert embedder.threshold == calibration["threshold"] and calibration["strangers_named"] <= 0.02


def test_more_enrolled_people_name_more_strangers_and_tar_falls_with_noise():
    from training.identity.calibration import one_to_n, tar_at_far, template

    people = synthetic_people(n_people=60, noise=0.9)
    rows = one_to_n(people, template, threshold=0.4, sizes=(5, 50), trials=3)
    assert [r["enrolled"] for r in rows] == [5, 50]
    assert rows[1]["strangers_named"] > rows[0]["strangers_named"]  # a stranger meets more look-alikes
    assert tar_at_far(synthetic_people(noise=0.3)) > 0.99 > tar_at_far(people)


def test_zscore_fusion_ranks_like_its_one_network_and_is_not_fooled_by_score_scales():
    from training.identity.calibration import template, zscore_fusion

    good, noise = synthetic_people(noise=0.5, seed=1), synthetic_people(noise=5.0, seed=2)
    both = {k: np.concatenate([good[k], good[k]], axis=1) / np.sqrt(2) for k in good}
    probes = np.stack([v[3] for v in good.values()])
    enrolled = [v[:3] for v in good.values()]
    alone = template(probes, enrolled).argmax(axis=1)
    twice = zscore_fusion([32, 32], both, [1, 1])(
        np.concatenate([probes, probes], 1) / np.sqrt(2), [np.concatenate([e, e], 1) / np.sqrt(2) for e in enrolled]
    )
    assert (twice.argmax(axis=1) == alone).all()
    mixed = {k: np.concatenate([good[k], noise[k]], axis=1) for k in good}
    fused = fold_scores(mixed, zscore_fusion([32, 32], mixed, [1.0, 0.05]))
    noisy = fold_scores(noise, SCORERS["template"])
    assert (
        operating_point(*fused, max_far=0.05)["named_correctly"]
        > operating_point(*noisy, max_far=0.05)["named_correctly"]
    )

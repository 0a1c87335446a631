import numpy as np

from edge.smoothing import EmotionSmoother, IdentityVote

CLASSES = ["happy", "sad"]


def test_hysteresis_stops_flapping_between_close_labels():
    s = EmotionSmoother(CLASSES, window=4, hysteresis=0.2)
    assert s.add(np.array([0.6, 0.4])) is True  # first decision
    changes = sum(s.add(np.array(p)) for p in ([0.45, 0.55], [0.55, 0.45], [0.45, 0.55], [0.52, 0.48]))
    assert changes == 0 and s.current()[0] == "happy"
    for _ in range(4):
        changed = s.add(np.array([0.1, 0.9]))
    assert s.current()[0] == "sad"
    assert changed is False  # it changed once, earlier in that run
    s.tick(2.0)
    assert s.shares() == {"sad": 1.0}


def test_identity_vote_needs_a_majority():
    v = IdentityVote(size=5)
    assert v.add("ana", 0.95) is True
    assert v.add(None, 0.5) is False or v.name == "ana"
    v.add("ana", 0.93)
    v.add("bob", 0.91)
    assert v.name == "ana" and 0.9 < v.score < 0.96
    for _ in range(4):
        v.add("bob", 0.92)
    assert v.name == "bob"


def test_an_uncertain_face_shows_no_label_and_sends_no_change():
    s = EmotionSmoother(CLASSES, window=2, hysteresis=0.1, uncertain_below=0.6)
    assert s.add(np.array([0.9, 0.1])) is True and s.current()[0] == "happy"
    assert s.add(np.array([0.2, 0.8])) is False  # mean 0.55 / 0.45: neither is sure enough
    assert s.current()[0] == "uncertain"
    assert s.add(np.array([0.2, 0.8])) is True and s.current()[0] == "sad"  # 0.2 / 0.8: sure again
    s2 = EmotionSmoother(CLASSES, window=1, uncertain_below=0.6)
    assert s2.add(np.array([0.55, 0.45])) is False  # never confident: no event at all
    label, score, probs = s2.current()
    assert label == "uncertain" and score == 0.55 and probs == {"happy": 0.55, "sad": 0.45}
    s2.tick(3.0)
    assert s2.add(np.array([0.2, 0.8])) is True and s2.current()[0] == "sad"
    s2.tick(1.0)
    assert s2.shares() == {"sad": 0.25, "uncertain": 0.75}


def test_a_visit_has_the_emotion_of_all_its_read_looks_and_unreadable_time_is_kept_apart():
    s = EmotionSmoother(["happy", "sad"], window=2, uncertain_below=0.6)
    assert s.visit() == ("not_read", 0.0)  # nothing read yet
    s.not_read()
    s.tick(2.0)
    assert s.current() is None  # shown as no emotion, not as uncertain
    for probs in ([0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]):
        s.add(np.array(probs))
        s.tick(1.0)
    # the last two looks say sad (the smoothed label), the visit as a whole says happy: (0.9+0.8+0.3+0.4)/4
    assert s.current()[0] == "sad"
    label, probability = s.visit()
    assert label == "happy" and abs(probability - 0.6) < 1e-9
    shares = s.shares()  # 2 s unread, then happy, happy, uncertain (0.55 < 0.6), sad
    assert shares == {
        "happy": round(2 / 6, 4),
        "sad": round(1 / 6, 4),
        "uncertain": round(1 / 6, 4),
        "not_read": round(2 / 6, 4),
    }
    s.add(np.array([0.1, 0.9]))
    s.add(np.array([0.1, 0.9]))
    assert s.visit()[0] == "uncertain"  # 0.43 / 0.57 over six looks: neither side is sure enough (0.6)

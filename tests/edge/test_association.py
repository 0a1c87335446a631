import numpy as np
import pytest

from edge.association import ByteTrackAssociation, GreedyAssociation, make_association
from edge.config import load_settings
from edge.tracking import FaceTracker
from tests.edge.test_tracking import dets


def test_greedy_takes_the_best_pair_first_and_leaves_weak_ones_new():
    scores = np.array([[0.9, 0.5, 0.0], [0.8, 0.1, 0.0]])
    pairs, new = GreedyAssociation(0.3).assign([7, 8], scores, dets([0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]))
    assert pairs == [(0, 0)]  # track 1's best (0.8) is taken; 0.1 is under the threshold
    assert new == [1, 2]


@pytest.mark.parametrize("association", ["greedy", "bytetrack"])
def test_each_association_keeps_walking_faces_on_their_tracks(association):
    tracker = FaceTracker(["happy"], max_missed=2, min_hits=2, association=association)
    for step in range(8):
        x = 10 + 8 * step
        tracker.update(dets([x, 10, x + 40, 50], [400 - x, 300, 440 - x, 340]), float(step))
    ids = {int(t.box[1]): t.track_id for t in tracker.tracks}
    assert len(tracker.tracks) == 2 and ids[10] != ids[300]
    for step in range(8, 12):  # the first face leaves; its track ends and ByteTrack's binding goes with it
        _, ended = tracker.update(dets([400 - 80, 300, 440 - 80, 340]), float(step))
        if ended:
            assert [t.track_id for t in ended] == [ids[10]]
    assert [t.track_id for t in tracker.tracks] == [ids[300]]


def test_bytetrack_confirms_a_face_at_its_second_detection_and_forgets_ended_tracks():
    byte = ByteTrackAssociation(min_iou=0.3, max_missed=2)
    # A first frame starts tracks at once (ByteTrack activates everything on its frame 1).
    pairs, new = byte.assign([], np.zeros((0, 1)), dets([0, 0, 40, 40]))
    assert (pairs, new) == ([], [0])
    byte.started(0, track_id=11)
    # Later, a new face is held back until its second detection; the known one continues track 11.
    pairs, new = byte.assign([11], np.zeros((1, 2)), dets([2, 0, 42, 40], [200, 200, 240, 240]))
    assert (pairs, new) == ([(0, 0)], [])
    pairs, new = byte.assign([11], np.zeros((1, 2)), dets([4, 0, 44, 40], [201, 200, 241, 240]))
    assert pairs == [(0, 0)] and new == [1]
    byte.started(1, track_id=12)
    byte.ended(11)
    pairs, new = byte.assign([12], np.zeros((1, 2)), dets([6, 0, 46, 40], [202, 200, 242, 240]))
    assert pairs == [(0, 1)] and new == [0]  # ByteTrack still has it, but it is no track of ours any more


def test_unknown_association_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="greedy, bytetrack"):
        make_association("sort", 0.3, 8)
    with pytest.raises(Exception, match="association"):
        load_settings(None, environ={"EDGE_TRACKER__ASSOCIATION": "sort"})


def test_greedy_lets_the_tracks_seen_last_choose_first():
    # Track 0 was hidden for 3 detections (wide reach) and scores 0.8 with the face in front; track 1, seen at
    # the last detection, scores 0.6 with it: the face keeps track 1, and the hidden track waits.
    scores = np.array([[0.8], [0.6]])
    pairs, new = GreedyAssociation(0.3).assign([7, 8], scores, dets([0, 0, 1, 1]), missed=[3, 0])
    assert pairs == [(1, 0)] and new == []
    pairs, _ = GreedyAssociation(0.3).assign([7, 8], scores, dets([0, 0, 1, 1]))  # no ages: best score
    assert pairs == [(0, 0)]

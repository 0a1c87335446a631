import numpy as np

from edge.boxes import iou_matrix, nms_by_smaller


def test_a_box_mostly_inside_a_better_one_is_the_same_face_and_neighbours_are_not():
    face = [171, 38, 245, 144]
    forehead = [162, 25, 247, 98]  # what a second region found on the same face: IoU 0.46, 72% inside the face
    neighbour = [250, 40, 320, 140]
    boxes = np.array([face, forehead, neighbour], np.float32)
    assert iou_matrix(boxes[:1], boxes[1:2])[0, 0] < 0.5  # an IoU test at 0.5 keeps both
    assert nms_by_smaller(boxes, np.array([0.99, 0.95, 0.9])).tolist() == [0, 2]
    assert nms_by_smaller(boxes, np.array([0.9, 0.99, 0.95])).tolist() == [1, 2]  # the better score stays
    assert nms_by_smaller(boxes[:0], np.zeros(0)).tolist() == []

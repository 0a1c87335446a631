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


def test_nms_by_union_keeps_what_torchvision_keeps():
    import torch
    from torchvision.ops import nms

    from edge.boxes import nms_by_union

    rng = np.random.default_rng(3)
    for n, threshold in ((1, 0.5), (40, 0.3), (400, 0.5), (2000, 0.7)):  # P-Net gives thousands of windows
        corner = rng.uniform(0, 300, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(5, 80, (n, 2))], 1).astype(np.float32)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        expected = nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
        np.testing.assert_array_equal(nms_by_union(boxes, scores, threshold), expected)


def test_the_detector_starts_without_importing_torchvision():
    # torchvision (which facenet_pytorch imports) costs about two seconds at every start of the service.
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from edge.mtcnn import MtcnnCascade\n"
        "MtcnnCascade().detect(np.zeros((120, 160, 3), np.uint8), 40)\n"
        "print(sorted(m for m in ('torchvision', 'facenet_pytorch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

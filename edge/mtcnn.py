"""MtcnnCascade: MTCNN's three networks (the weights facenet-pytorch ships) run by a cascade of our own.

facenet-pytorch's own cascade resamples each candidate face with a separate ``torch.nn.functional.interpolate``
call (about 350 per 1080p frame on the demo: 40 ms of its 156) and runs the networks on NCHW tensors, on
which PyTorch's CPU max-pooling is slow. Here candidates are cut out and resized with OpenCV on the uint8
image (a few milliseconds for all of them) and the networks run channels-last on the CPU. The stages are
MTCNN's (Zhang et al., 2016): P-Net over an image pyramid proposes 12 px-cell windows, R-Net (24 x 24)
and O-Net (48 x 48, with the five landmarks) rescore and refine them, non-maximum suppression after each.
Windows that reach past the image edge keep their shape, the part outside filled by repeating the edge
pixels. Measured: zero padding (the original MTCNN's) lost faces larger than the picture, 8 of the first
800 close-up photos of muxspace/facial_expressions against 1 (O-Net scored them 0.87-0.90 instead of 0.99);
facenet-pytorch cuts the part inside and stretches it, which found the same photos and the same video faces
as repeating the edge.

Box arithmetic follows facenet-pytorch's (its 1-based window origin included), so boxes and landmarks match
its own within a pixel or two; ``tests/edge/test_mtcnn.py`` checks that on real photos and video frames.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np
import torch

from edge.boxes import nms_by_smaller, nms_by_union
from edge.models.mtcnn_nets import ONet, PNet, RNet

FACTOR = 0.709  # pyramid step: each level is 0.709 times the previous (MTCNN's)
STRIDE, CELL = 2, 12  # P-Net's output stride and window size, in pyramid pixels


class MtcnnCascade:
    """``detect(rgb, min_face)``: boxes (N, 4), scores (N,) and landmarks (N, 5, 2) of the faces in ``rgb``."""

    def __init__(self, thresholds: Sequence[float] = (0.6, 0.7, 0.7), device: str = "cpu") -> None:
        self.thresholds = tuple(float(t) for t in thresholds)
        self.device = torch.device(device)
        self.nets = []
        for net in (PNet(), RNet(), ONet()):  # the weights inside the facenet-pytorch wheel
            net = net.load_wheel_weights().eval().to(self.device)
            if self.device.type == "cpu":
                # PyTorch's CPU max-pooling is slow on NCHW tensors: channels-last made P-, R- and O-Net
                # 1.5x, 2.6x and 3x faster on this CPU with the same outputs.
                net = net.to(memory_format=torch.channels_last)
            self.nets.append(net)

    def detect(self, rgb: np.ndarray, min_face: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces at least ``min_face`` px in ``rgb`` (H, W, 3 uint8): boxes x1, y1, x2, y2, scores, landmarks."""
        with torch.inference_mode():
            boxes = self._propose(rgb, min_face)
            if len(boxes):
                boxes = self._refine(rgb, boxes)
            if len(boxes):
                return self._output(rgb, boxes)
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)

    def _run(self, stage: int, batch: np.ndarray):
        """Network ``stage`` (0 P-Net, 1 R-Net, 2 O-Net) on uint8 NHWC images, as MTCNN normalises them."""
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float()
        x = (x - 127.5) * 0.0078125
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        return [out.float().cpu().numpy() for out in self.nets[stage](x)]

    def _propose(self, rgb: np.ndarray, min_face: float) -> np.ndarray:
        """P-Net over the pyramid: candidate windows (N, 5: x1, y1, x2, y2, score), regressed and squared."""
        h, w = rgb.shape[:2]
        scale, side = CELL / min_face, min(h, w) * CELL / min_face
        found = []
        while side >= CELL:
            level = cv2.resize(rgb, (int(w * scale + 1), int(h * scale + 1)), interpolation=cv2.INTER_AREA)
            reg, prob = self._run(0, level[None])
            rows, cols = np.nonzero(prob[0, 1] >= self.thresholds[0])
            if len(rows):
                origin = np.stack([cols, rows], 1).astype(np.float32)
                windows = np.concatenate(
                    [
                        np.floor((STRIDE * origin + 1) / scale),
                        np.floor((STRIDE * origin + CELL) / scale),
                        prob[0, 1, rows, cols][:, None],
                        reg[0][:, rows, cols].T,
                    ],
                    1,
                )
                found.append(windows[nms(windows[:, :4], windows[:, 4], 0.5)])
            scale, side = scale * FACTOR, side * FACTOR
        if not found:
            return np.zeros((0, 5), np.float32)
        windows = np.concatenate(found)
        windows = windows[nms(windows[:, :4], windows[:, 4], 0.7)]
        size = windows[:, 2:4] - windows[:, 0:2]  # P-Net's regression scales by w, h without the +1
        boxes = np.concatenate([windows[:, 0:2] + windows[:, 5:7] * size, windows[:, 2:4] + windows[:, 7:9] * size], 1)
        return square(np.concatenate([boxes, windows[:, 4:5]], 1))

    def _refine(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net: rescored, suppressed, regressed and squared windows."""
        reg, prob = self._run(1, crops(rgb, boxes, 24))
        keep = prob[:, 1] > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], 1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return square(regress(boxes[pick], reg[pick]))

    def _output(self, rgb: np.ndarray, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net: final scores, boxes and the five landmarks (eyes, nose, mouth corners)."""
        reg, points, prob = self._run(2, crops(rgb, boxes, 48))
        keep = prob[:, 1] > self.thresholds[2]
        boxes, reg, points, score = boxes[keep, :4], reg[keep], points[keep], prob[keep, 1]
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        xs = size[:, None, 0] * points[:, :5] + boxes[:, None, 0] - 1
        ys = size[:, None, 1] * points[:, 5:] + boxes[:, None, 1] - 1
        landmarks = np.stack([xs, ys], 2)
        boxes = regress(np.concatenate([boxes, score[:, None]], 1), reg)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, by_smaller=True)
        return boxes[pick, :4].astype(np.float32), boxes[pick, 4].astype(np.float32), landmarks[pick].astype(np.float32)


def square(boxes: np.ndarray) -> np.ndarray:
    """Each box (x1, y1, x2, y2, ...) made square on its longer side, about its centre."""
    out = boxes.copy()
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(1, keepdims=True)
    out[:, 0:2] = boxes[:, 0:2] + 0.5 * size - 0.5 * side
    out[:, 2:4] = out[:, 0:2] + side
    return out


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Boxes moved by a network's regression, in units of their (+1) width and height."""
    out = boxes.copy()
    size = boxes[:, 2:4] - boxes[:, 0:2] + 1
    out[:, 0:2] = boxes[:, 0:2] + reg[:, 0:2] * size
    out[:, 2:4] = boxes[:, 2:4] + reg[:, 2:4] * size
    return out


def crops(rgb: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """The windows ``boxes`` cut from ``rgb`` (its edge repeated outside it), resized to side x side: (N, side,
    side, 3)."""
    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), side, side, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(np.trunc(boxes[:, :4]).astype(int)):
        x1, y1 = x1 - 1, y1 - 1  # the windows' 1-based origin (facenet-pytorch's, from MTCNN's MATLAB code)
        if x2 <= x1 or y2 <= y1:
            continue
        top, left, bottom, right = max(y1, 0), max(x1, 0), min(y2, h), min(x2, w)
        if bottom <= top or right <= left:
            continue
        # The part outside the image repeats its edge pixels: see the module's docstring for why.
        window = cv2.copyMakeBorder(
            rgb[top:bottom, left:right], top - y1, y2 - bottom, left - x1, x2 - right, cv2.BORDER_REPLICATE
        )
        shrink = window.shape[0] > side
        out[k] = cv2.resize(window, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_smaller: bool = False) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first: on intersection over union, or with
    ``by_smaller`` intersection over the smaller box (O-Net's last step, see :func:`edge.boxes.nms_by_smaller`)."""
    return nms_by_smaller(boxes, scores, threshold) if by_smaller else nms_by_union(boxes, scores, threshold)

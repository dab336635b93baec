"""Every layer's output, on each runtime that can show one: what localization compares.

- Eager: forward hooks on every submodule record its inputs and output, in the order the layers
  finish, which is an order in which each layer comes after the layers it reads.
- ONNX Runtime: a copy of the graph, in memory, with every node output marked as a graph output
  (Polygraphy's `--onnx-outputs mark all`). Each value is matched to the module that made it by
  the node's scope: the dynamo exporter records it in the node's metadata
  (`pkg.torch.onnx.name_scopes`), the legacy exporter in the node's name (`/main/main.3/Conv`).
  A module's output is the last value its nodes make that is read outside the module. Exporters
  fuse layers (a BatchNorm into the convolution before it), so a value may be the output of a
  layer next to the one its node names; gan.export.localize sorts that out by value.
- TorchScript: a traced `.pt` keeps the module tree, so each traced submodule is run on the inputs
  eager gave the same submodule. This compares layers one at a time, so an error shows at the
  layer that makes it and is not carried on to the next.
"""

from __future__ import annotations

import ast
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn

from gan.export.backends.onnxruntime import OnnxRuntimeBackend
from gan.export.backends.openvino import OpenVinoBackend


@dataclass
class EagerLayer:
    """One submodule's call in the eager model: its path as the exported files name it."""

    path: str
    kind: str  # the module's class name
    args: tuple
    kwargs: dict
    output: torch.Tensor


@dataclass
class RuntimeOutput:
    """A value from the runtime under test, by the layer that made it, with the op that did."""

    output: torch.Tensor
    op: str  # "ONNX Conv", or "traced TorchScript"


def _detached(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()  # a later in-place op (ReLU(inplace=True)) must not change it
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


@torch.no_grad()
def eager_layers(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[EagerLayer]:
    """Every submodule called once with a tensor output, in the order the calls finish. A module
    called several times (a shared activation) has no one output to compare, so it is left out."""
    calls: dict[str, list] = {}
    finished: list[EagerLayer] = []
    handles = []
    for path, sub in module.named_modules():
        if not path:
            continue

        def before(sub, args, kwargs, path=path):
            calls.setdefault(path, []).append((_detached(args), _detached(kwargs)))

        def after(sub, args, kwargs, output, path=path):
            if isinstance(output, torch.Tensor):
                args, kwargs = calls[path][-1]
                finished.append(EagerLayer(path, type(sub).__name__, args, kwargs, _detached(output)))

        handles.append(sub.register_forward_pre_hook(before, with_kwargs=True))
        handles.append(sub.register_forward_hook(after, with_kwargs=True))
    try:
        module.eval()(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return [layer for layer in finished if len(calls[layer.path]) == 1]


def node_scope(node: onnx.NodeProto) -> str | None:
    """The path of the module whose forward made `node` ("" for the model's own forward), or None
    when the exporter recorded none."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":  # dynamo: ['', 'main', 'main.3', 'conv2d']
            scopes = ast.literal_eval(prop.value)
            return scopes[-2] if len(scopes) >= 2 else ""
    if node.name.startswith("/"):  # legacy: /main/main.3/ConvTranspose
        parts = node.name.split("/")
        return parts[-2] if len(parts) >= 3 else ""
    return None


def _within(path: str | None, scope: str) -> bool:
    return path is not None and (path == scope or path.startswith(scope + "."))


def module_outputs(graph: onnx.GraphProto, scopes: list[str]) -> dict[str, tuple[str, str]]:
    """For each module path in `scopes`: (value name, op type) of its output in `graph`, when its
    nodes make one: the last value they make that a node outside the module reads, or that the
    graph returns."""
    paths = [node_scope(node) for node in graph.node]
    graph_outputs = {o.name for o in graph.output}
    readers: dict[str, list[int]] = {}
    for index, node in enumerate(graph.node):
        for name in node.input:
            readers.setdefault(name, []).append(index)
    found = {}
    for scope in scopes:
        for index in reversed(range(len(graph.node))):
            if not _within(paths[index], scope):
                continue
            node = graph.node[index]
            leaves = [
                name
                for name in node.output
                if name in graph_outputs or any(not _within(paths[r], scope) for r in readers.get(name, []))
            ]
            if leaves:
                found[scope] = (leaves[0], node.op_type)
                break
    return found


def onnx_layer_outputs(
    path: Path,
    device: torch.device,
    names: list[str],
    inputs: tuple[torch.Tensor, ...],
    layers: list[EagerLayer],
    runtime: str = "onnxruntime",
) -> dict[str, RuntimeOutput]:
    """Each eager layer's output as `runtime` (onnxruntime or openvino) computes it from the
    exported graph, where the graph has one."""
    model = onnx.load(str(path))
    wanted = module_outputs(model.graph, [layer.path for layer in layers])
    marked = {o.name for o in model.graph.output}
    for value, _ in wanted.values():
        if value not in marked:
            model.graph.output.append(onnx.ValueInfoProto(name=value))
            marked.add(value)
    with tempfile.TemporaryDirectory(prefix="gan-layers-") as tmp:
        copy = Path(tmp) / "all-outputs.onnx"
        onnx.save(model, str(copy))
        feed = {name: x.detach().cpu().numpy() for name, x in zip(names, inputs)}
        if runtime == "openvino":
            values = _openvino_outputs(copy, feed)
        else:
            session = OnnxRuntimeBackend(copy, device, io_binding=False).session
            values = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    return {
        scope: RuntimeOutput(torch.from_numpy(values[value]), f"ONNX {op}")
        for scope, (value, op) in wanted.items()
        if value in values
    }


def _openvino_outputs(path: Path, feed: dict) -> dict:
    """Every output of the marked copy as OpenVINO computes it (f32 pinned), by tensor name."""
    backend = OpenVinoBackend(path)
    request = backend.compiled.create_infer_request()
    request.infer(feed)
    return {
        name: request.get_tensor(port).data.copy()
        for port in backend.compiled.outputs
        for name in port.get_names()
    }


@torch.no_grad()
def torchscript_layer_outputs(
    traced: torch.jit.ScriptModule, device: torch.device, layers: list[EagerLayer]
) -> dict[str, RuntimeOutput]:
    """Each eager layer's traced counterpart, run alone on the inputs eager gave that layer."""
    submodules = dict(traced.named_modules())
    outputs = {}
    for layer in layers:
        sub = submodules.get(layer.path)
        if sub is None:
            continue
        try:
            output = sub(*_on(layer.args, device), **_on(layer.kwargs, device))
        except Exception:  # a submodule the trace inlined, or one called with Python values
            continue
        if isinstance(output, torch.Tensor):
            outputs[layer.path] = RuntimeOutput(output.cpu(), "traced TorchScript")
    return outputs


def _on(value, device: torch.device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_on(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _on(v, device) for k, v in value.items()}
    return value

"""YuNet as a trainable Keras model, built from the layers of its ONNX graph with the graph's weights, and
the trained weights written back into a graph that OpenCV's `cv2.dnn` reads (the shipped detector's form).

The ONNX graphs of `../shared/weights/yunet_train/` hold YuNet with its batch norms folded into the
convolutions: 1x1 and 3x3 depthwise convolutions, ReLU, 2x2 max pooling, 2x nearest upsampling and additions,
then per stride (8, 16, 32) a map of cls, obj (both before their sigmoid), bbox (4) and kps (10) channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STRIDES = (8, 16, 32)
HEADS = ("cls", "obj", "bbox", "kps")
CHANNELS = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
OUTPUT_NAMES = tuple(f"{head}_{stride}" for head in HEADS for stride in STRIDES)


def _graph(path: Path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return model, weights


def _head_maps(graph) -> dict[str, str]:
    """Output name (cls_8 ...) -> the convolution output it is flattened from (Transpose -> Reshape [-> Sigmoid])."""
    producer = {out: node for node in graph.node for out in node.output}
    maps = {}
    for name in OUTPUT_NAMES:
        node = producer[name]
        while node.op_type != "Transpose":
            node = producer[node.input[0]]
        maps[name] = node.input[0]
    return maps


def build_yunet(onnx_path: Path):
    """A Keras model of the ONNX graph's network with its weights, trainable. Input: (batch, H, W, 3) float
    BGR 0-255 with H and W multiples of 32. Outputs, in OUTPUT_NAMES order: (batch, H/s * W/s, channels) maps,
    row-major as YuNet's, with cls and obj as logits (YuNet's scores are their sigmoids)."""
    import keras
    from onnx import helper

    model, weights = _graph(Path(onnx_path))
    graph = model.graph
    heads = _head_maps(graph)
    wanted = set(heads.values())
    image = keras.Input((None, None, 3), name="image")
    tensors = {graph.input[0].name: image}
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            kernel, bias = weights[node.input[1]], weights[node.input[2]]
            out_ch, in_per_group, kh, kw = kernel.shape
            stride, pads = attrs.get("strides", [1, 1])[0], attrs.get("pads", [0, 0, 0, 0])
            x = tensors[node.input[0]]
            if pads[0] and stride > 1:  # ONNX pads both sides; Keras "same" would pad bottom-right only
                x = keras.layers.ZeroPadding2D(pads[0])(x)
            padding = "same" if pads[0] and stride == 1 else "valid"
            if attrs.get("group", 1) == 1:
                layer = keras.layers.Conv2D(out_ch, (kh, kw), strides=stride, padding=padding,
                                            name=f"conv_{len(tensors)}")
                layer.build(x.shape)
                layer.set_weights([kernel.transpose(2, 3, 1, 0), bias])
            else:
                assert in_per_group == 1 and attrs["group"] == out_ch, f"unsupported grouped conv {node.name}"
                layer = keras.layers.DepthwiseConv2D((kh, kw), strides=stride, padding=padding,
                                                     name=f"dwconv_{len(tensors)}")
                layer.build(x.shape)
                layer.set_weights([kernel.transpose(2, 3, 0, 1), bias])
            layer.onnx_weights = (node.input[1], node.input[2])
            tensors[node.output[0]] = layer(x)
        elif node.op_type == "Relu":
            tensors[node.output[0]] = keras.layers.ReLU()(tensors[node.input[0]])
        elif node.op_type == "MaxPool":
            size = attrs["kernel_shape"][0]
            tensors[node.output[0]] = keras.layers.MaxPooling2D(size, attrs["strides"][0])(tensors[node.input[0]])
        elif node.op_type == "Resize":
            scales = weights[node.input[2]] if len(node.input) > 2 else None
            factor = int(scales[2]) if scales is not None and len(scales) == 4 else 2
            tensors[node.output[0]] = keras.layers.UpSampling2D(factor, interpolation="nearest")(
                tensors[node.input[0]])
        elif node.op_type == "Add":
            tensors[node.output[0]] = keras.layers.Add()([tensors[node.input[0]], tensors[node.input[1]]])
        if wanted.issubset(tensors):
            break
    outputs = [keras.layers.Reshape((-1, CHANNELS[name.split("_")[0]]), name=name)(tensors[heads[name]])
               for name in OUTPUT_NAMES]
    return keras.Model(image, outputs, name=Path(onnx_path).stem)


def conv_layers(network) -> list:
    """The network's convolutions, each with the ONNX initializer names of its kernel and bias."""
    return [layer for layer in network.layers if hasattr(layer, "onnx_weights")]


def save_for_opencv(network, onnx_path: Path, out_path: Path) -> Path:
    """Write the network's weights into its ONNX graph, made readable by OpenCV's `cv2.dnn` (batch 1, the
    outputs' reshapes to constant shapes instead of the shape arithmetic of a dynamic export)."""
    import onnx
    from onnx import helper, numpy_helper

    model, weights = _graph(Path(onnx_path))
    graph = model.graph
    for layer in conv_layers(network):
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        if kernel.shape[-1] == 1 and layer.__class__.__name__ == "DepthwiseConv2D":
            kernel = kernel.transpose(2, 3, 0, 1)
        else:
            kernel = kernel.transpose(3, 2, 0, 1)
        weights[layer.onnx_weights[0]] = kernel.astype(np.float32)
        weights[layer.onnx_weights[1]] = bias.astype(np.float32)
    shape_ops = {"Shape", "Gather", "Unsqueeze", "Concat"}
    nodes, extra = [], []
    for node in graph.node:
        if node.op_type in shape_ops:
            continue
        if node.op_type == "Reshape":
            name = f"{node.output[0]}_shape"
            channels = CHANNELS[next(h for h in HEADS if any(o.startswith(h) for o in _reshape_targets(graph, node)))]
            extra.append(numpy_helper.from_array(np.array([1, -1, channels], np.int64), name))
            node = helper.make_node("Reshape", [node.input[0], name], list(node.output), name=node.name)
        nodes.append(node)
    used = {i for node in nodes for i in node.input}
    initializers = [numpy_helper.from_array(value, name) for name, value in weights.items() if name in used] + extra
    graph_input = helper.make_tensor_value_info(graph.input[0].name, onnx.TensorProto.FLOAT, [1, 3, "height", "width"])
    outputs = [helper.make_tensor_value_info(o.name, onnx.TensorProto.FLOAT,
                                             [1, "anchors", CHANNELS[o.name.split("_")[0]]]) for o in graph.output]
    new_graph = helper.make_graph(nodes, graph.name, [graph_input], outputs, initializers)
    new_model = helper.make_model(new_graph, opset_imports=model.opset_import, producer_name="facemask train")
    new_model.ir_version = model.ir_version
    onnx.checker.check_model(new_model)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(new_model, str(out_path))
    return out_path


def _reshape_targets(graph, reshape) -> list[str]:
    """The graph outputs a Reshape node feeds (directly or through its Sigmoid)."""
    outputs = {o.name for o in graph.output}
    found, frontier = [], list(reshape.output)
    while frontier:
        name = frontier.pop()
        if name in outputs:
            found.append(name)
        frontier += [o for node in graph.node if name in node.input for o in node.output]
    return found

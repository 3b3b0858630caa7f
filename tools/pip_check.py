"""`pip check`, allowing one known gap: rapidocr-onnxruntime names opencv-python (the GUI
build, which needs libGL), and we install opencv-python-headless, which provides the same
cv2 module. Any other broken requirement fails (exit 1). Used by the Makefile and the Dockerfile."""
import subprocess
import sys

ALLOWED = 'requires opencv-python, which is not installed'

result = subprocess.run([sys.executable, '-m', 'pip', 'check'], capture_output=True, text=True)
problems = [line for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and ALLOWED not in line and not line.startswith('No broken requirements')]
if problems:
    print('\n'.join(problems))
    sys.exit(1)
print('pip check: clean (rapidocr\'s opencv-python is provided by opencv-python-headless)')

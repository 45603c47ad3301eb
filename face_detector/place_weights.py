"""Place the files listed in manifest.json into face_detector/weights/ (git-ignored)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facemask.vision.weights import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

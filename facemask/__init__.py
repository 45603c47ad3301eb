"""facemask: find every face in a picture or video and say whether it wears a mask.

One folder per stage, each importing only those before it: vision/ (a picture -> `Detections`),
cameras/ (a live source -> tracks, events, the store), evaluation/ (how we measure), app/ (the pages' glue);
training/ makes the models. What every stage shares sits here at the top."""

from facemask.annotate import annotate, blur_faces
from facemask.config import CLASS_NAMES
from facemask.detections import Detections
from facemask.errors import FacemaskError
from facemask.imageio import decode_image, load_image
from facemask.vision.pipeline import Pipeline

__all__ = [
    "CLASS_NAMES", "Detections", "FacemaskError", "Pipeline", "VideoTransformer",
    "annotate", "blur_faces", "decode_image", "load_image",
]
__version__ = "0.1.0"


def __getattr__(name):
    # the webcam processor pulls in av and streamlit-webrtc: import it only when asked for
    if name == "VideoTransformer":
        from facemask.app.webcam import VideoTransformer

        return VideoTransformer
    raise AttributeError(name)

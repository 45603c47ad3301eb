"""Vision: the one flow from a picture to `Detections`.
Takes a BGR frame; the face detector finds boxes, the crops go to the mask classifier in one batched call,
and `Pipeline` gives back one `Detections` with a box, a P(face) and a class per face."""

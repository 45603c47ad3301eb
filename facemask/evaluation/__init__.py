"""Evaluation: how we measure.
Takes annotated photos (Pascal VOC) and the `Pipeline`, or a detections file it wrote; gives face-level
AP, recall, precision and status accuracy, the metrics page's plots, and `facemask benchmark`'s timings."""

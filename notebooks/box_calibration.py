"""Median offset/scale from YuNet boxes to annotated face boxes on the dev train split (sets box_scale in config)."""
import numpy as np
from facemask import config
from facemask.dataset import load_voc_dir
from facemask.detectors import create_detector
from facemask.imageio import load_image
from facemask.metrics import iou_matrix
anns = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS, "train")
det = create_detector("yunet", fallback=False, min_side=720, threshold=0.5)
rows=[]
for a in anns:
    b, s = det.detect(load_image(a.image_path))
    m = iou_matrix(b, a.xyxy)
    for i in range(len(b)):
        j = m[i].argmax() if m.shape[1] else -1
        if j>=0 and m[i,j]>0.3:
            d, g = b[i], a.xyxy[j]
            dw, dh = d[2]-d[0], d[3]-d[1]
            rows.append([((g[0]+g[2])/2-(d[0]+d[2])/2)/dw, ((g[1]+g[3])/2-(d[1]+d[3])/2)/dh, (g[2]-g[0])/dw, (g[3]-g[1])/dh, m[i,j]])
r=np.array(rows); print(len(r), np.median(r,0), r[:,4].mean(), (r[:,4]>=0.5).mean())

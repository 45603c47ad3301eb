"""The numbers that matter in `facemask train`: one place, so a recipe change is one visible diff."""

from __future__ import annotations

from facemask import config

SEED = 1337
HEAD_EPOCHS = 4  # phase 1: only the new classification layer learns
EPOCHS = 6  # phase 2: the upper backbone blocks learn too, at a lower rate
BATCH_SIZE = 64
HEAD_LEARNING_RATE = 1e-3
LEARNING_RATE = 1e-4
TRAIN_PHOTOS = "train+val"  # the dev splits whose faces are trained on; holdout never is
CUT_LAYER = "block_3_expand"  # layers before it are frozen and cached; from it on are trained
CLOSEUP_VARIANTS = 2  # augmented copies per close-up photo
NOT_A_FACE = -1  # label of a detector box on no annotated face: trained towards the not-a-face output
OUTPUTS = (*config.CLASS_NAMES, config.NOT_A_FACE_OUTPUT)  # the classifier's outputs, in order
REAL_VARIANTS = {0: 2, 1: 5, 2: 20, NOT_A_FACE: 2}  # copies per real box, by class (rare classes get more)
FACE_BOX_MIN_SCORE = 0.5  # detector boxes on an annotated face are trained on from this score (its default)
NOT_A_FACE_MIN_SCORE = 0.3  # detector boxes this sure of a face, yet on none, teach the classifier junk
NOT_A_FACE_MAX_IOU = 0.3  # ... when they overlap every annotated face less than this
LABEL_SMOOTHING = 0.1
SYNTHETIC_PER_FACE = {0: 1, 2: 1}  # painted masks per unmasked close-up: correct, below the nose
TRANSPLANT_PER_FACE = {0: 1, 2: 1}  # real masks from masked close-ups, per unmasked close-up, likewise
PHOTO_MASKS_PER_FACE = {0: 2, 2: 4}  # masks drawn on each unmasked face of the training photos, likewise
LANDMARK_FACE_SIDE = 128  # a photo's face is enlarged to about this width for YuNet to find its landmarks
VAL_SHARE = 0.15  # share of near-duplicate groups of close-ups held out for validation
DHASH_RADIUS = 10  # close-ups within this many bits of difference hash are one group

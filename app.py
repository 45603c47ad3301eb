"""Face-mask detector dashboard, home page: `streamlit run app.py`. The other pages are in pages/."""

import streamlit as st

from facemask import config
from facemask.app import ui

settings = ui.setup_page(
    ui.APP_TITLE,
    "Finds every face in a photo, a video or a live webcam stream and says whether it wears "
    "a mask, wears none, or wears it wrongly.")
ui.legend()

st.markdown("#### Start here")
BLURBS = {
    "pages/1_Photos_and_video.py": "Drop in photos or a short video. Get annotated pictures, tables of "
                                   "faces, one ZIP for many photos, and for a video the people seen "
                                   "and the faces over time.",
    "pages/2_Live_webcam.py": "Use your webcam. Boxes, counts and an alert update live while you move.",
    "pages/3_Model_metrics.py": "How well the models do: training curves, confusion matrices, ROC "
                                "and precision-recall on real photos.",
}
for card, (path, blurb) in zip(st.columns(len(BLURBS)), BLURBS.items()):
    label, icon = ui.PAGES[path]
    with card.container(border=True):
        st.page_link(path, label=f"**{label}**", icon=icon)
        st.caption(blurb)

st.markdown("#### What is loaded")
pipe = ui.pipeline(settings.detector)
if pipe is None:
    st.info("Pictures cannot be analysed until the mask classifier is in place. The metrics page still works.")
    st.stop()
ui.fallback_warning(pipe)
info = ui.read_json(config.MODEL_INFO) or {}
left, right = st.columns(2)
with left.container(border=True):
    st.markdown("**Face detector**")
    st.markdown(f"{ui.DETECTOR_LABELS.get(pipe.detector_name, pipe.detector_name)} · `{pipe.detector_name}`")
    st.caption(f"Threshold {settings.threshold:.2f} (sidebar). {config.THRESHOLD_HELP}")
with right.container(border=True):
    st.markdown("**Mask classifier**")
    classifier = pipe.classifier
    st.markdown(f"{info.get('backbone', 'CNN')} on {classifier.input_size}×{classifier.input_size} px "
                f"face crops · `{classifier.path.name}`")
    facts = [f"{info[key]} {unit}" for key, unit in (("epochs", "epochs"), ("training_minutes", "min of training"))
             if key in info]
    if facts:
        st.caption(" · ".join(facts) + " · details on the metrics page")

st.markdown("#### How it works")
st.markdown(
    "1. A face detector finds every face, including small ones in crowd photos.\n"
    "2. Each face is cropped to a padded square, and all crops of a picture go through the mask "
    "classifier in one batch.\n"
    "3. Each box is coloured by class and labelled with the classifier's confidence.\n\n"
    "The same pipeline runs behind the command line (`facemask detect`, `facemask video`), "
    "the evaluation and this app.")

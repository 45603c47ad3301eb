"""Live webcam: annotated video back from the server, with counts, speed and an alert beside it."""

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from facemask import FacemaskError, config
from facemask.app import ui
from facemask.app.webcam import VideoTransformer, live_pipeline
from facemask.redaction import redact

settings = ui.setup_page("Live webcam", "Press START and allow the camera. Frames are annotated on the "
                                         "server; only the newest frame is processed, so the video stays live.")
try:
    with st.spinner("Loading the face detector and mask classifier…"):
        pipe = live_pipeline(settings.detector)
except FacemaskError as exc:
    st.error(f"The models could not be loaded. {exc}", icon=":material/error:")
    st.stop()
ui.fallback_warning(pipe)

video_col, stats_col = st.columns([3, 2], gap="large")
with video_col:
    ctx = webrtc_streamer(
        key="facemask-live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=ui.rtc_configuration(),
        video_processor_factory=lambda: VideoTransformer(pipe, settings.threshold, settings.blur),
        media_stream_constraints={"video": {"frameRate": {"ideal": config.LIVE_CAMERA_FPS,
                                                          "max": config.LIVE_CAMERA_FPS}}, "audio": False},
        async_processing=True,
    )
    ui.legend()
    record = st.toggle("Record into the store", key="live_record",
                       help=f"This camera's events and per-minute counts go to {redact(config.DEFAULT_DB_URL)} "
                            f"as camera '{config.WEBCAM_CAMERA_NAME}', as `facemask watch` records a camera; the "
                            "Monitor page shows them.")

processor = ctx.video_processor
if processor is not None:  # sidebar changes reach the running stream from the next frame
    processor.threshold = settings.threshold
    processor.blur = settings.blur
    try:
        if record and not processor.recorder.recording:
            processor.recorder.start()
        elif not record and processor.recorder.recording:
            processor.recorder.stop()
    except FacemaskError as exc:
        st.error(f"Not recording: {exc}", icon=":material/error:")
    try:
        processor.set_detector(settings.detector)
    except FacemaskError as exc:
        st.error(str(exc), icon=":material/error:")


def live_panel() -> None:
    processor = ctx.video_processor
    if not ctx.state.playing or processor is None:
        st.markdown('<div class="fm-status fm-idle">Camera off</div>', unsafe_allow_html=True)
        st.caption("Counts, speed and the alert appear here while the camera runs.")
        return
    stats = processor.stats()
    if stats.alert:
        st.markdown('<div class="fm-status fm-alert">Mask missing or worn wrong</div>', unsafe_allow_html=True)
    elif stats.faces:
        st.markdown('<div class="fm-status fm-ok">Everyone in view wears a mask</div>', unsafe_allow_html=True)
    else:
        st.markdown('<div class="fm-status fm-idle">No face in view</div>', unsafe_allow_html=True)
    ui.count_metrics(stats.counts, total_label="Faces", per_row=2)
    recent = processor.recorder.recent()
    minutes = config.LIVE_COUNTS_WINDOW_S / 60
    seen = ", ".join(f"{n} {config.CLASS_TITLES[name].lower()}" for name, n in recent["counts"].items())
    st.markdown(f"**Last {minutes:g} minutes:** {recent['people']} "
                f"{'person' if recent['people'] == 1 else 'people'} seen; faces in the sampled frames: {seen}")
    if processor.recorder.recording:
        st.caption(f"Recording into {processor.recorder.store_name}: {recent['events']} event(s) so far.")
    speed = st.columns(3)
    speed[0].metric("FPS", f"{stats.fps:.1f}", help="Annotated frames per second, smoothed.")
    speed[1].metric("Latency", f"{stats.latency_ms:.0f} ms", help="From a frame's arrival to its annotated copy.")
    speed[2].metric("Frames", f"{stats.frames:,}",
                    help=f"Annotated so far; {stats.dropped:,} stale frames skipped to stay live.")
    st.caption(f"Detector: {stats.detector} · threshold {processor.threshold:.2f}"
               + (" · faces blurred" if processor.blur else ""))
    if stats.error:
        st.error(f"Last frame could not be annotated: {ui.plain(stats.error)}")


with stats_col:
    # refreshed while streaming; starting or stopping reruns the whole page
    st.fragment(live_panel, run_every=config.LIVE_STATS_REFRESH_S if ctx.state.playing else None)()

with st.expander("Camera does not start?"):
    st.markdown(
        "- Allow camera access in the browser's address bar, then press START again.\n"
        "- The page must be served over HTTPS (or from localhost) for browsers to offer the camera.\n"
        "- Behind strict firewalls WebRTC needs a TURN server: set `FACEMASK_RTC_CONFIGURATION` to a JSON "
        'object such as `{"iceServers": [{"urls": ["turn:…"], "username": "…", "credential": "…"}]}`.\n'
        f"- Threshold and detector come from the sidebar; the default threshold is {config.DEFAULT_THRESHOLD}.")

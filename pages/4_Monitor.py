"""Monitor: what `facemask watch` recorded. Each camera's status, compliance over time, recent events
with snapshots, and a new event shown as an alert the moment it is stored."""

import streamlit as st

from facemask import config
from facemask.app import ui
from facemask.cameras import monitor
from facemask.errors import FacemaskError

ui.setup_page("Monitor", "What the cameras watched by <code>facemask watch</code> saw: each camera's status, "
                         "the share of faces with a mask minute by minute, and every face seen without one.")

password = monitor.configured_password(st.secrets)
if password and not st.session_state.get("monitor_unlocked"):
    with st.form("monitor_password"):
        given = st.text_input("Password", type="password",
                              help="Set by whoever runs the dashboard: the camera feeds are for the people "
                                   "they are meant for.")
        if st.form_submit_button("Open the Monitor"):
            if monitor.password_matches(given, password):
                st.session_state["monitor_unlocked"] = True
                st.rerun()
            st.error("Wrong password.", icon=":material/lock:")
    st.stop()


@st.cache_resource(show_spinner=False)
def open_store(url: str):
    return monitor.open_store(url)


try:
    store = open_store(config.DEFAULT_DB_URL)
    cameras = store.cameras()
except FacemaskError as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"Database: {store.name}")
if not cameras:
    st.info("Nothing recorded yet. Start a watcher, e.g. `facemask watch rtsp://user:pass@camera/stream "
            "--name door`, and its cameras appear here.", icon=":material/hourglass_empty:")
    st.stop()

left, right = st.columns([3, 1])
chosen = left.multiselect("Cameras", cameras, placeholder="All cameras")
window = right.selectbox("Time", list(monitor.WINDOWS), index=1)
CHART_COLORS = [ui.rgb_hex(name) for name in config.CLASS_NAMES]


@st.fragment(run_every=config.MONITOR_REFRESH_S)
def live(chosen: list[str], window: str) -> None:
    """Redrawn every config.MONITOR_REFRESH_S seconds: a new event, the status, the chart, the events."""
    try:
        since = monitor.since_for(window)
        newest = monitor.newest_event(store, chosen)
        rows = monitor.camera_rows(store)
        counts = monitor.compliance(store, chosen, since)
        events = monitor.recent_events(store, chosen, since, limit=12)
    except FacemaskError as exc:
        st.error(str(exc))
        return
    seen = st.session_state.get("monitor_newest_event")
    if newest is not None:
        if seen is not None and newest["id"] != seen:
            st.toast(f"New event: {monitor.event_caption(newest)}", icon=":material/warning:")
        st.session_state["monitor_newest_event"] = newest["id"]
        with st.container(border=True):
            face, text = st.columns([1, 5])
            if newest.get("face_jpeg"):
                face.image(newest["face_jpeg"], width=96)
            text.markdown("**Latest event**")
            text.error(monitor.event_caption(newest), icon=":material/warning:")

    st.subheader("Cameras")
    st.dataframe(rows, hide_index=True, width="stretch")

    st.subheader("Compliance")
    if counts.empty:
        st.caption("No faces counted in this time.")
    else:
        titles = {name: config.CLASS_TITLES[name] for name in config.CLASS_NAMES}
        st.bar_chart(counts.rename(columns=titles), x="minute", y=list(titles.values()), color=CHART_COLORS,
                     x_label="Minute (UTC)", y_label="Faces seen")
        faces = int(counts["faces"].sum())
        share = f"{100 * counts['with_mask'].sum() / faces:.0f} %" if faces else "–"
        st.metric("With a mask, in this time", share, help="Share of the faces seen that wore a mask.")
        if len(counts) > 1:
            st.line_chart(counts, x="minute", y="with mask %", x_label="Minute (UTC)", y_label="With a mask (%)")
        st.caption("Faces are counted in every analysed frame: a person in view for 10 s at 5 fps counts 50 times.")

    st.subheader("Recent events")
    if not events:
        st.caption("No event in this time.")
    for start in range(0, len(events), 4):
        for column, event in zip(st.columns(4), events[start:start + 4]):
            with column.container(border=True):
                if event.get("frame_jpeg"):
                    st.image(event["frame_jpeg"], width="stretch")
                if event.get("face_jpeg"):
                    st.image(event["face_jpeg"], width=96)
                st.caption(monitor.event_caption(event) + (" · blurred" if event["blurred"] else ""))


live(chosen, window)

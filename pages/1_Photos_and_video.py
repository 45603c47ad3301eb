"""Photos & video: upload pictures or a short video, get them back annotated."""

import json
import tempfile
from pathlib import Path

import streamlit as st

from facemask import FacemaskError, config
from facemask.app import ui
from facemask.export import records_to_csv, safe_filename, total_counts

FULL_VIEW = 3  # photos shown in full; the others are in the table and one selectbox away

settings = ui.setup_page("Photos & video", "Upload pictures or a short video. Every face gets a "
                                            "box coloured by what it wears.")
ui.legend()
pipe = ui.pipeline(settings.detector)
if pipe is None:
    st.stop()
ui.fallback_warning(pipe)

photos_tab, video_tab = st.tabs(["Photos", "Video"])


def download(column, label: str, data, name: str, mime: str, key: str | None = None) -> None:
    column.download_button(label, data, name, mime, key=key, on_click="ignore", icon=":material/download:")


def show_photo(upload, key: str, faces: ui.PhotoFaces) -> None:
    """One photo in full: the annotated picture, its counts, downloads and faces table."""
    record = faces.record(settings.threshold)
    png = ui.annotated_png(key, upload.getvalue(), upload.name, settings.detector, settings.threshold,
                           settings.blur)
    with st.container(border=True):
        st.subheader(ui.plain(upload.name))
        picture, details = st.columns([3, 2], gap="medium")
        picture.image(png, caption=f"{faces.width}×{faces.height} px", width="stretch")
        with details:
            ui.count_metrics(total_counts([record]), per_row=2)
            buttons = st.columns(3)
            download(buttons[0], "Picture", png, safe_filename(upload.name, "_annotated.png"), "image/png",
                     key=f"png-{upload.file_id}")
            download(buttons[1], "JSON", json.dumps(record, indent=2), safe_filename(upload.name, ".json"),
                     "application/json", key=f"json-{upload.file_id}")
            download(buttons[2], "CSV", records_to_csv([record]), safe_filename(upload.name, ".csv"),
                     "text/csv", key=f"csv-{upload.file_id}")
        if record["faces"]:
            st.dataframe(ui.faces_table(record), hide_index=True,
                         column_config={"Score": st.column_config.ProgressColumn(
                             "Score", format="%.2f", min_value=0.0, max_value=1.0, help=ui.FIELD_HELP["score"]),
                             "P(face)": st.column_config.NumberColumn(
                                 format="%.2f", help=ui.FIELD_HELP["face_probability"]),
                             "P(label)": st.column_config.NumberColumn(
                                 format="%.2f", help=ui.FIELD_HELP["label_probability"])})
        else:
            st.info(ui.plain(faces.no_face_advice(settings.threshold)), icon=":material/search_off:")


with photos_tab:
    uploads = st.file_uploader("Photos", type=ui.UPLOAD_TYPES, accept_multiple_files=True, help=ui.PHOTO_HELP)
    if not uploads:
        st.info(f"Drop one or more photos above: {ui.PHOTO_HELP} Pictures are never saved to disk.")
    uploads = uploads or []

    results = []  # (upload, content key, PhotoFaces or the FacemaskError that says why it was refused)
    with st.spinner("Looking for faces…"):
        for upload in uploads:
            data = upload.getvalue()
            key = ui.digest(data)
            reason = ui.rejection(upload.name, len(data))
            if reason:
                results.append((upload, key, FacemaskError(reason)))
                continue
            try:
                results.append((upload, key, ui.detect_photo(key, data, upload.name, settings.detector)))
            except FacemaskError as exc:
                results.append((upload, key, exc))
            except Exception as exc:  # noqa: BLE001 - one odd picture must not take the others down
                results.append((upload, key, FacemaskError(
                    f"{upload.name}: could not be analysed ({type(exc).__name__}: {exc}).")))
    good = [(upload, key, faces) for upload, key, faces in results if isinstance(faces, ui.PhotoFaces)]

    for _, _, error in results:
        if isinstance(error, FacemaskError):
            st.error(ui.plain(error), icon=":material/broken_image:")

    if len(uploads) > 1:
        st.subheader("Summary")
        records = [faces.record(settings.threshold) for _, _, faces in good]
        photos = f"{len(good)} photo" + ("s" if len(good) != 1 else "")
        ui.count_metrics(total_counts(records), total_label=f"Faces in {photos}")
        st.dataframe(ui.summary_table([ui.summary_row(upload.name, faces, settings.threshold)
                                       for upload, _, faces in results]), hide_index=True, key="summary")
        if good:
            blur, threshold = settings.blur, settings.threshold
            drawn = [(upload.name, upload.getvalue(), faces.drawn(threshold, blur)) for upload, _, faces in good]
            left, middle, right, _ = st.columns([1.3, 1, 1, 2])
            download(left, f"Annotated pictures (ZIP, {len(good)})", lambda: ui.annotated_zip(drawn, blur, threshold),
                     "faces_annotated.zip", "application/zip", key="zip")
            download(middle, "All faces (CSV)", records_to_csv(records), "faces.csv", "text/csv")
            download(right, "All faces (JSON)", json.dumps(records, indent=2), "faces.json", "application/json")
        st.divider()

    for upload, key, faces in good[:FULL_VIEW]:
        show_photo(upload, key, faces)
    if len(good) > FULL_VIEW:
        rest = good[FULL_VIEW:]
        st.markdown(f"**{len(rest)} more photo{'s' if len(rest) > 1 else ''}** are in the summary above.")
        pick = st.selectbox("Show another photo", range(len(rest)), key="more_photos",
                            format_func=lambda k: rest[k][0].name)
        show_photo(*rest[pick])

with video_tab:
    st.markdown("Annotate a short clip frame by frame. Long videos take a while on a small server: "
                "keep it under a minute.")
    video = st.file_uploader("Video", type=ui.VIDEO_TYPES, key="video", help=ui.VIDEO_HELP)
    if video is not None and st.button("Annotate video", type="primary", icon=":material/play_arrow:"):
        from facemask.cameras.video import process_video
        from facemask.vision.pipeline import Pipeline

        bar = st.progress(0.0, text="Starting…")

        def progress(done: int, total: int | None) -> None:
            if total:
                bar.progress(min(done / total, 1.0), text=f"Frame {done} of {total}")
            else:
                bar.progress(0.0, text=f"Frame {done}")

        with tempfile.TemporaryDirectory() as folder:
            src = Path(folder) / safe_filename(video.name, Path(video.name).suffix.lower() or ".mp4")

            def for_the_user(text: str) -> str:
                """A message naming the user's file, never our temporary copy or folder."""
                return ui.plain(text.replace(str(src), video.name).replace(folder, "").strip())

            src.write_bytes(video.getvalue())
            out, csv_path = Path(folder) / "annotated.mp4", Path(folder) / "counts.csv"
            try:
                # its own pipeline: a long video must not hold the shared photo pipeline
                summary = process_video(src, out, Pipeline(settings.detector, settings.threshold, live="video"),
                                        csv_path=csv_path, progress=progress, blur=settings.blur)
            except FacemaskError as exc:
                bar.empty()
                st.error(for_the_user(str(exc)), icon=":material/broken_image:")
            else:
                bar.progress(1.0, text=f"Done: {summary['frames']} frames")
                for path_key in ("out", "csv"):  # server paths: nothing for the page
                    summary.pop(path_key, None)
                if summary.get("warning"):
                    summary["warning"] = for_the_user(summary["warning"])
                st.session_state["video_result"] = {
                    "name": video.name, "video": out.read_bytes(), "blur": settings.blur,
                    "csv": csv_path.read_bytes() if csv_path.exists() else None, "summary": summary}

    result = st.session_state.get("video_result")
    if video is not None and result and result["name"] == video.name:
        summary = result["summary"]
        if summary.get("warning"):
            st.warning(summary["warning"], icon=":material/warning:")
        st.markdown(f"**{ui.plain(result['name'])}**: {summary['seconds']:.1f} s, {summary['frames']} frames "
                    f"at {summary['fps']:g} fps" + (", faces blurred" if result["blur"] else ""))
        ui.count_metrics(summary["people_per_class"], total_label="People")
        most = summary["max_faces"]
        st.caption("People: each face followed from frame to frame counts once, with the label most of its "
                   f"frames gave it. At most {most} face{' was' if most == 1 else 's were'} in view at once.")
        seconds = summary["per_second"]
        if len(seconds) > 1:
            st.markdown("**Faces in view, per second**")
            st.area_chart({config.CLASS_TITLES[name]: [s[name] for s in seconds] for name in config.CLASS_NAMES}
                          | {"Second": [s["second"] for s in seconds]},
                          x="Second", y=[config.CLASS_TITLES[name] for name in config.CLASS_NAMES],
                          color=[ui.rgb_hex(name) for name in config.CLASS_NAMES], y_label="Faces (mean)",
                          height=260)
        player, files = st.columns([3, 2], gap="medium")
        player.video(result["video"], format="video/mp4")
        download(files, "Annotated video (MP4)", result["video"], safe_filename(result["name"], "_annotated.mp4"),
                 "video/mp4")
        if result["csv"]:
            download(files, "Faces per frame (CSV)", result["csv"], safe_filename(result["name"], "_counts.csv"),
                     "text/csv")

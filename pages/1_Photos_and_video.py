"""Photos & video: upload pictures or a short video, get them back annotated."""

import json
import tempfile
from pathlib import Path

import streamlit as st

from facemask import FacemaskError, config, ui
from facemask.export import records_to_csv, safe_filename, total_counts

settings = ui.setup_page("Photos & video", "Upload pictures or a short video. Every face gets a "
                                            "box coloured by what it wears.")
ui.legend()
pipe = ui.pipeline(settings.detector)
if pipe is None:
    st.stop()
ui.fallback_warning(pipe)

photos_tab, video_tab = st.tabs(["Photos", "Video"])

with photos_tab:
    uploads = st.file_uploader("Photos", type=ui.UPLOAD_TYPES, accept_multiple_files=True,
                               help=f"JPEG, PNG, WebP or BMP, up to {config.MAX_UPLOAD_MB} MB each.")
    if not uploads:
        st.info("Drop one or more photos above. Pictures are never saved to disk.")

    results, failures = [], []
    sections = []
    for upload in uploads or []:
        try:
            with st.spinner(f"Looking for faces in {ui.plain(upload.name)}…"):
                result = ui.analyse_photo(upload.getvalue(), upload.name, settings.detector,
                                          settings.threshold, settings.blur)
            results.append(result)
            sections.append(result)
        except FacemaskError as exc:
            failures.append(upload.name)
            sections.append(exc)
        except Exception as exc:  # noqa: BLE001 - one odd picture must not take the others down
            failures.append(upload.name)
            sections.append(FacemaskError(f"{upload.name}: could not be analysed ({type(exc).__name__}: {exc})."))

    if len(uploads or []) > 1:
        st.subheader("Summary")
        records = [r.record for r in results]
        photos = f"{len(results)} photo" + ("s" if len(results) != 1 else "")
        ui.count_metrics(total_counts(records), total_label=f"Faces in {photos}")
        if failures:
            st.caption(f"Could not read: {', '.join(ui.plain(name) for name in failures)}")
        if records:
            left, right, _ = st.columns([1, 1, 3])
            left.download_button("All faces (CSV)", records_to_csv(records), "faces.csv", "text/csv",
                                 on_click="ignore", icon=":material/download:")
            right.download_button("All faces (JSON)", json.dumps(records, indent=2), "faces.json",
                                  "application/json", on_click="ignore", icon=":material/download:")
        st.divider()

    for upload, item in zip(uploads or [], sections):
        if isinstance(item, FacemaskError):
            st.error(ui.plain(item), icon=":material/broken_image:")
            continue
        with st.container(border=True):
            st.subheader(ui.plain(upload.name))
            record = item.record
            picture, details = st.columns([3, 2], gap="medium")
            picture.image(item.png, caption=f"{record['width']}×{record['height']} px", width="stretch")
            with details:
                ui.count_metrics(item.counts, per_row=2)
                buttons = st.columns(3)
                buttons[0].download_button("Picture", item.png, safe_filename(upload.name, "_annotated.png"),
                                           "image/png", key=f"png-{upload.file_id}", on_click="ignore",
                                           icon=":material/download:")
                buttons[1].download_button("JSON", json.dumps(record, indent=2),
                                           safe_filename(upload.name, ".json"), "application/json",
                                           key=f"json-{upload.file_id}", on_click="ignore",
                                           icon=":material/download:")
                buttons[2].download_button("CSV", records_to_csv([record]), safe_filename(upload.name, ".csv"),
                                           "text/csv", key=f"csv-{upload.file_id}", on_click="ignore",
                                           icon=":material/download:")
            if record["faces"]:
                st.dataframe(ui.faces_table(record), hide_index=True,
                             column_config={"Score": st.column_config.ProgressColumn(
                                 "Score", format="%.2f", min_value=0.0, max_value=1.0,
                                 help=ui.FIELD_HELP["score"]),
                                 "P(face)": st.column_config.NumberColumn(
                                     format="%.2f", help=ui.FIELD_HELP["face_probability"]),
                                 "P(label)": st.column_config.NumberColumn(
                                     format="%.2f", help=ui.FIELD_HELP["label_probability"])})
            else:
                st.info("No face found. Try lowering the confidence threshold in the sidebar.")

with video_tab:
    st.markdown("Annotate a short clip frame by frame. Long videos take a while on a small server: "
                "keep it under a minute.")
    video = st.file_uploader("Video", type=ui.VIDEO_TYPES, key="video",
                             help=f"MP4, MOV, AVI, MKV or WebM, up to {config.MAX_UPLOAD_MB} MB.")
    if settings.blur:
        st.caption("Face blurring applies to photos and the webcam; videos are annotated without it.")
    if video is not None and st.button("Annotate video", type="primary", icon=":material/play_arrow:"):
        from facemask.pipeline import Pipeline
        from facemask.video import process_video

        bar = st.progress(0.0, text="Starting…")

        def progress(done: int, total: int | None) -> None:
            if total:
                bar.progress(min(done / total, 1.0), text=f"Frame {done} of {total}")
            else:
                bar.progress(0.0, text=f"Frame {done}")

        with tempfile.TemporaryDirectory() as folder:
            src = Path(folder) / safe_filename(video.name, Path(video.name).suffix.lower() or ".mp4")
            src.write_bytes(video.getvalue())
            out, csv_path = Path(folder) / "annotated.mp4", Path(folder) / "counts.csv"
            try:
                # its own pipeline: a long video must not hold the shared photo pipeline
                summary = process_video(src, out, Pipeline(settings.detector, settings.threshold, live=True),
                                        csv_path=csv_path, progress=progress)
            except FacemaskError as exc:
                bar.empty()  # name the user's file, not our temporary copy
                st.error(ui.plain(str(exc).replace(str(src), video.name)), icon=":material/broken_image:")
            else:
                bar.progress(1.0, text=f"Done: {summary.get('frames', '?')} frames")
                st.session_state["video_result"] = {
                    "name": video.name, "video": out.read_bytes(),
                    "csv": csv_path.read_bytes() if csv_path.exists() else None, "summary": summary}
                if summary.get("warning"):
                    st.warning(ui.plain(summary["warning"]))

    result = st.session_state.get("video_result")
    if video is not None and result and result["name"] == video.name:
        st.video(result["video"], format="video/mp4")
        buttons = st.columns([1, 1, 3])
        buttons[0].download_button("Annotated video", result["video"], safe_filename(result["name"], "_annotated.mp4"),
                                   "video/mp4", on_click="ignore", icon=":material/download:")
        if result["csv"]:
            buttons[1].download_button("Counts per frame (CSV)", result["csv"],
                                       safe_filename(result["name"], "_counts.csv"), "text/csv",
                                       on_click="ignore", icon=":material/download:")
        with st.expander("Summary"):
            st.json({k: v for k, v in result["summary"].items() if not isinstance(v, (bytes, bytearray))})

"""Model metrics: the plots and numbers written by `facemask train` and `facemask evaluate`."""

import streamlit as st

from facemask import config
from facemask.app import ui

ui.setup_page("Model metrics", "How well the mask classifier and the whole pipeline do on pictures "
                               "they never saw in training. Nothing is computed here: this page shows "
                               "the reports written by <code>facemask train</code> and "
                               "<code>facemask evaluate</code>.")

VAL_SETS = {"real_photos": "Faces cropped from real crowd photos", "closeups": "Close-up portraits"}
TRAIN_HINT = "It is written by `facemask train`."
EVAL_HINT = "It is written by `facemask evaluate`."
WAITING = ":material/hourglass_empty:"
SCORE = st.column_config.NumberColumn(format="%.3f")
PERCENT_KEYS = {"recall", "precision", "recall_small", "status_accuracy"}


def plot(name: str, caption: str, missing: str) -> None:
    path = config.PLOTS_DIR / name
    if path.exists():
        st.image(str(path), caption=caption, width="stretch")
    else:
        st.info(f"{caption}: not there yet. {missing}", icon=WAITING)


def title(key: str) -> str:
    """Class names as the app shows them; other keys made readable."""
    if key in ui.CLASS_TITLES:
        return ui.CLASS_TITLES[key]
    if key.isdigit() and int(key) < len(config.CLASS_NAMES):
        return ui.CLASS_TITLES[config.CLASS_NAMES[int(key)]]
    if key == "mean(with,without)":
        return "Mean (with, without)"
    return key.replace("_", " ").capitalize() if key.islower() and " " not in key else key


def report_rows(report: dict) -> list[dict]:
    """Precision, recall, F1... per class; classes absent from the set are left out."""
    return [{"Class": title(name), **{("ROC AUC" if k == "roc_auc" else title(k)): v for k, v in row.items()}}
            for name, row in report.get("per_class", {}).items() if row.get("support", 1)]


def matrix_rows(matrix: list[list[int]]) -> list[dict]:
    names = [title(n) for n in config.CLASS_NAMES]
    return [{"True \\ predicted": names[i], **{names[j]: v for j, v in enumerate(row)}}
            for i, row in enumerate(matrix)]


def table(mapping: dict, key_title: str) -> list[dict]:
    """A {row: {column: value}} or flat {key: value} dict as table rows."""
    return [{key_title: title(key), **({title(k): v for k, v in value.items()} if isinstance(value, dict)
                                       else {"Value": value})}
            for key, value in mapping.items()]


def number(key: str, value: float | int) -> str:
    if key in PERCENT_KEYS and value <= 1:
        return f"{value:.1%}"
    return f"{value:g}" if isinstance(value, float) else f"{value:,}"


train_metrics = ui.read_json(config.TRAIN_METRICS)
eval_metrics = ui.read_json(config.EVAL_METRICS)
eval_metrics_extra = ui.read_json(config.EVAL_METRICS_EXTRA)
cv_metrics = ui.read_json(config.EVAL_METRICS_CV)
# notebooks/cross_validate.py writes one report per photo source; older files held one report
cv_reports = (cv_metrics or {}).get("sources") or ({"dev": cv_metrics} if cv_metrics else {})
SOURCE_TITLES = {"dev": "dev photos (mask_detection_dev)", "extra": "second source (mask_detection_extra)"}
info = ui.read_json(config.MODEL_INFO)

classifier_tab, pipeline_tab, card_tab = st.tabs(["Mask classifier", "Detection on real photos", "Model card"])

with classifier_tab:
    if train_metrics is None and not (config.PLOTS_DIR / "training_curves.png").exists():
        st.info(f"No training report yet. {TRAIN_HINT} The curves, confusion matrices, ROC curves and "
                "classification reports will appear here.", icon=WAITING)
    else:
        st.subheader("Training")
        plot("training_curves.png", "Loss and accuracy per epoch", TRAIN_HINT)
        for key, heading in VAL_SETS.items():
            st.subheader(f"Validation: {heading.lower()}")
            left, right = st.columns(2)
            with left:
                plot(f"confusion_matrix_{key}.png", "Confusion matrix", TRAIN_HINT)
            with right:
                plot(f"roc_{key}.png", "ROC curves", TRAIN_HINT)
            report = (train_metrics or {}).get(key)
            if not report:
                continue
            accuracy_col, table_col = st.columns([1, 4])
            if report.get("accuracy") is not None:
                faces = sum(r.get("support", 0) for r in report.get("per_class", {}).values())
                accuracy_col.metric("Accuracy", f"{report['accuracy']:.1%}", help=f"{faces:,} held-out faces")
            table_col.dataframe(report_rows(report), hide_index=True,
                                column_config={"Precision": SCORE, "Recall": SCORE, "F1": SCORE, "ROC AUC": SCORE})
            if report.get("confusion_matrix"):
                with st.expander("Confusion matrix as numbers"):
                    st.dataframe(matrix_rows(report["confusion_matrix"]), hide_index=True)

def evaluation_numbers(report: dict) -> None:
    """Facts, the operating point and the AP table of one `facemask evaluate`-style report."""
    facts = {k: v for k, v in report.items() if not isinstance(v, (dict, list))}
    if facts:
        st.caption(" · ".join(f"{title(k)}: {v}" for k, v in facts.items()))
    point = report.get("operating_point")
    if isinstance(point, dict):
        st.markdown("**At the app's threshold**", help=config.THRESHOLD_HELP)
        shown = [(k, v) for k, v in point.items() if isinstance(v, (int, float))]
        for start in range(0, len(shown), 4):
            for column, (key, value) in zip(st.columns(4), shown[start:start + 4]):
                column.metric(title(key), number(key, value))
        if isinstance(point.get("recall_by_class"), dict):
            st.markdown("**Recall by annotated class** (a detector that misses masked faces shows here)")
            st.dataframe(table(point["recall_by_class"], "Faces"), hide_index=True,
                         column_config={title(k): SCORE for row in point["recall_by_class"].values() for k in row})
    if isinstance(report.get("ap"), dict):
        st.markdown("**Average precision (AP at IoU 0.5) by face size**")
        st.dataframe(table(report["ap"], "Faces"), hide_index=True,
                     column_config={title(k): SCORE for row in report["ap"].values()
                                    if isinstance(row, dict) for k in row})
    if isinstance(report.get("n_gt"), dict):
        st.markdown("**Faces in the ground truth**")
        st.dataframe(table(report["n_gt"], "Faces"), hide_index=True)


with pipeline_tab:
    st.markdown("Face detector and classifier together, scored against hand-drawn boxes on held-out "
                "photos: a face counts as found when a box overlaps it enough and has the right class.")
    if eval_metrics is None and not (config.PLOTS_DIR / "pr_curves.png").exists():
        st.info(f"No evaluation yet. {EVAL_HINT} Precision-recall curves, average precision by face size "
                "and recall at the app's threshold will appear here.", icon=WAITING)
    else:
        st.subheader("The shipped model on the holdout photos")
        plot("pr_curves.png", "Precision-recall per class (dev photos)", EVAL_HINT)
        if eval_metrics is None:
            st.info(f"The evaluation numbers are not there yet. {EVAL_HINT}", icon=WAITING)
        else:
            st.markdown(f"**{SOURCE_TITLES['dev'].capitalize()}**")
            evaluation_numbers(eval_metrics)
        if eval_metrics_extra is not None:
            st.markdown(f"**{SOURCE_TITLES['extra'].capitalize()}**")
            evaluation_numbers(eval_metrics_extra)
    if cv_reports:
        st.subheader("Cross-validation on the training photos")
        st.markdown("The training recipe, scored on the photos the shipped model learns from: each photo by "
                    "a model trained without it (`python notebooks/cross_validate.py`). More photos than the "
                    "holdout, so steadier figures, but for the recipe rather than the shipped weights.")
        for source, report in cv_reports.items():
            st.markdown(f"**{SOURCE_TITLES.get(source, source).capitalize()}**")
            evaluation_numbers(report)
            if isinstance(report.get("live"), dict):  # the same photos as a live camera sees them
                mode = report["live"].get("mode", "live")
                st.markdown(f"**{SOURCE_TITLES.get(source, source).capitalize()}, {mode}**")
                evaluation_numbers(report["live"])
    examples = sorted(config.PLOTS_DIR.glob("eval_examples_*.png"))
    if examples:
        st.markdown("**Examples**")
        columns = st.columns(2)
        for k, path in enumerate(examples):
            caption = path.stem.replace("eval_examples_", "").replace("_", " ").capitalize()
            columns[k % 2].image(str(path), caption=caption, width="stretch")

with card_tab:
    card = config.MODELS_DIR / "MODEL_CARD.md"
    if info is None and not card.exists():
        st.info(f"No model card yet. {TRAIN_HINT}", icon=WAITING)
    if card.exists():
        st.markdown(card.read_text(encoding="utf-8"))
        st.divider()
    if info:
        st.subheader("Training facts")
        flat = {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in info.items()
                if not isinstance(v, dict)}
        nested = {k: v for k, v in info.items() if isinstance(v, dict)}
        numeric = {k: v for k, v in nested.items() if all(isinstance(x, (int, float)) for x in v.values())}
        columns = st.columns([3] + [2] * len(numeric)) if numeric else [st.container()]
        columns[0].dataframe([{"Field": title(k), "Value": str(v)} for k, v in flat.items()], hide_index=True)
        for column, (key, value) in zip(columns[1:], numeric.items()):
            column.markdown(f"**{title(key)}**")
            column.dataframe([{"Name": title(str(n)), "Value": v} for n, v in value.items()], hide_index=True)
        for key, value in nested.items():
            if key not in numeric:
                st.markdown(f"**{title(key)}**")
                st.dataframe([{"Name": title(str(n)), "Value": str(v)} for n, v in value.items()],
                             hide_index=True)

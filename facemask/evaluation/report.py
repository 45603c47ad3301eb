"""Plots and tables the metrics page shows: written by `facemask train` and `facemask evaluate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facemask.config import CLASS_NAMES, CLASS_TITLES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(CLASS_NAMES)) -> np.ndarray:
    matrix = np.zeros((n, n), int)
    for t, p in zip(y_true, y_pred):
        matrix[t, p] += 1
    return matrix


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One-vs-rest ROC: false positive rate, true positive rate, area under the curve."""
    order = np.argsort(-scores, kind="stable")
    y = y_true[order].astype(bool)
    pos, neg = y.sum(), (~y).sum()
    if pos == 0 or neg == 0:
        return np.array([0, 1]), np.array([0, 1]), float("nan")
    tpr = np.concatenate([[0], np.cumsum(y) / pos])
    fpr = np.concatenate([[0], np.cumsum(~y) / neg])
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def classification_report(y_true: np.ndarray, probs: np.ndarray) -> dict:
    y_pred = probs.argmax(1)
    rows = {}
    for c, name in enumerate(CLASS_NAMES):
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        precision = tp / max(int(np.sum(y_pred == c)), 1)
        recall = tp / max(int(np.sum(y_true == c)), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        auc = roc_curve(y_true == c, probs[:, c])[2]
        rows[name] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                      "support": int(np.sum(y_true == c)), "roc_auc": None if np.isnan(auc) else round(auc, 4)}
    return {"accuracy": round(float(np.mean(y_pred == y_true)), 4) if len(y_true) else None,
            "per_class": rows, "confusion_matrix": confusion(y_true, y_pred).tolist()}


def write_training_plots(history: dict, results: dict, plots_dir: Path) -> dict:
    """Curves, confusion matrices and ROC for each validation set; returns the numbers."""
    plt = _plt()
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(np.arange(1, len(history[key]) + 1), history[key], label="train (augmented)")
        if f"val_{key}" in history:
            ax.plot(np.arange(1, len(history[key]) + 1), history[f"val_{key}"], label="val: real photo crops")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(plots_dir / "training_curves.png", dpi=110)
    plt.close(fig)

    metrics = {}
    for name, res in results.items():
        y, probs = np.asarray(res["y_true"], int), np.asarray(res["probs"], float)
        metrics[name] = classification_report(y, probs)
        present = [c for c in range(len(CLASS_NAMES)) if np.any(y == c)]
        matrix = np.asarray(metrics[name]["confusion_matrix"])[np.ix_(present, present)]
        labels = [CLASS_TITLES[CLASS_NAMES[c]] for c in present]
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.imshow(matrix / np.maximum(matrix.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        for i in range(len(present)):
            for j in range(len(present)):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                        color="white" if matrix[i, j] > matrix[i].sum() / 2 else "black")
        ax.set_xticks(range(len(present)), labels, rotation=20)
        ax.set_yticks(range(len(present)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"Confusion matrix: {name.replace('_', ' ')}")
        fig.tight_layout()
        fig.savefig(plots_dir / f"confusion_matrix_{name}.png", dpi=110)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(4.6, 4))
        for c in present:
            fpr, tpr, auc = roc_curve(y == c, probs[:, c])
            ax.plot(fpr, tpr, label=f"{CLASS_TITLES[CLASS_NAMES[c]]} (AUC {auc:.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"ROC: {name.replace('_', ' ')}")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(plots_dir / f"roc_{name}.png", dpi=110)
        plt.close(fig)
    return metrics


def write_pr_curves(curves: dict, path: Path) -> None:
    """Precision/recall curve per class from `facemask evaluate` (curves: name -> (recall, precision, ap))."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for name, (rec, prec, ap) in curves.items():
        if len(rec):
            ax.plot(rec, prec, label=f"{CLASS_TITLES[name]} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision/recall on real photos (IoU 0.5)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Tables of the shipped model's evaluation report (``reports/evaluation.json``) and rows of
its record's table, for :mod:`.tables`.

Each entry is ``name: (rows(report), columns)``; a column is ``header: spec``
(``dotted.path:format`` into a row, or a function of the row).
"""

from __future__ import annotations

#: The test folder and its two halves, as the tables name them.
SPLITS = {"test": "full test folder", "public_test": "PublicTest half",
          "private_test": "PrivateTest half"}

def made_by_interpolation(m: dict) -> dict:
    """The model table's rows for a weight interpolation: the base model's training beside
    the fine-tune's (whose settings are the config rows below), and the share of each."""
    base, share = m["interpolation"]["base"], m["interpolation"]["fraction_of_tuned"]
    return {"trained on": f"base: {base['hardware']}; fine-tune: {m['hardware']}",
            "backend, precision": f"base: {base['backend']}, {base['precision']}; "
                                  f"fine-tune: {m['backend']}, {m['precision']}",
            "epochs run (best)": f"base: {base['epochs_run']} ({base['best_epoch']}); "
                                 f"fine-tune: {m['epochs_run']} ({m['best_epoch']})",
            "training time": f"base: {base['wall_time_s']:.0f} s; "
                             f"fine-tune: {m['wall_time_s']:.0f} s",
            "made as": f"{1 - share:g} x base + {share:g} x fine-tuned weights, batch norm "
                       "recalibrated on the clean training faces",
            "base command": f"`{base['command']}`",
            "fine-tune command": f"`{m['interpolation']['tuned']['command']}`"}


def fast_teacher(load) -> str:
    """Which accurate model the fast one was distilled from, by sha256 (``load`` reads a
    committed JSON record)."""
    teachers = load("models/emotion_cnn_fast.json").get("teachers", [])
    shipped = load("models/emotion_cnn.json").get("model_sha256")
    if any(t.get("sha256") == shipped for t in teachers):
        return "distilled from the model above"
    return ("distilled from an earlier accurate model (sha256 "
            f"{', '.join(t['sha256'][:8] for t in teachers)})")


REPORT_TABLE_SPECS = {
    "splits": (lambda ev: [dict(name="validation (10% of train)", s=ev["validation"])]
               + [dict(name=label, s=ev["splits"][k], t=ev["tta"][k]) for k, label in SPLITS.items()],
               {"split": "name", "images": "s.n:,", "accuracy": "s.accuracy:.4f",
                "macro-F1": "s.macro_f1:.4f", "disgust recall": "s.per_class.disgust.recall:.3f",
                "flip TTA accuracy": "t.accuracy:.4f", "flip TTA macro-F1": "t.macro_f1:.4f"}),
    "per-class": (lambda ev: [dict(name=c, t=r, p=ev["splits"]["public_test"]["per_class"][c],
                                   q=ev["splits"]["private_test"]["per_class"][c],
                                   v=ev["validation"]["per_class"][c])
                              for c, r in ev["splits"]["test"]["per_class"].items()],
                  {"class": "name", "precision": "t.precision:.3f", "recall": "t.recall:.3f",
                   "F1": "t.f1-score:.3f", "test images": "t.support:,.0f",
                   "recall, PublicTest": "p.recall:.3f", "recall, PrivateTest": "q.recall:.3f",
                   "recall, validation": "v.recall:.3f"}),
    "confusions": (lambda ev: ev["most_confused"],
                   {"true class": "true", "predicted as": "predicted", "test images": "count",
                    "share of the true class": "share_of_true_class:.1%"}),
    "calibration": (lambda ev: [dict(ev["calibration"][f"{s}_rule"], name=s)
                                for s in ("validation", "test")],
                    {"faces": lambda r: f"{r['name']} ({r['threshold']:.2f} threshold)",
                     "confident": "confident.share:.1%", "right when confident":
                     "confident.accuracy:.1%", "uncertain": "uncertain.share:.1%",
                     "right when uncertain": "uncertain.accuracy:.1%"}),
    "temperature": (lambda ev: [ev["calibration"]],
                    {"temperature": "temperature:.3f", "ECE on test, before": "ece_test_before:.4f",
                     "ECE on test, after": "ece_test_after:.4f",
                     "target accuracy of confident faces": "target_confident_accuracy:.0%"}),
}

"""Evaluation: metrics, calibration, Grad-CAM, the report folder, the model card, report comparison.

Modules: ``logits`` (the batched inference loop), ``metrics`` (accuracy, top-2,
per-class P/R/F1/AUROC, confusion matrix), ``calibration`` (temperature,
ECE, reliability bins), ``gradcam`` (maps over faces), ``explain`` (maps over a
photo's detected faces), ``photos`` (real photos against weak labels),
``history`` (training curves), ``samples`` (which faces figures show),
``plots`` (the figures), ``report`` (``evaluate`` and ``write_report``),
``pages`` (Markdown and self-contained HTML), ``model_card``, ``compare``.

Typical use::

    from ferkit.evaluation.report import evaluate, write_report
    ev = evaluate("model.pt", "fer2013.csv.gz", ferplus="fer2013new.csv", photos="photos.zip")
    write_report(ev, "reports/model-test")
"""

"""The export's validation report in Markdown: calibration, each survey's policy, the gate."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def validation_markdown(body: dict[str, Any], model: str) -> str:
    """`body` is validation.json: calibration record, per-survey reports, gate, refused surveys."""
    cal = body.get("calibration") or {}
    lines = [f"# Validation of {model} at export", ""]
    if cal:
        params = cal["params"]
        lines += [
            f"**Calibration** ({cal['method']}): p_real = sigmoid(logit(p) / {params['temperature']:.4f} "
            f"+ {params['bias']:.4f}), fitted on {cal['n']} alerts: {cal['set_name']} "
            f"(fingerprint {cal['fingerprint']}; labels: {cal['labels']}). ECE (10 bins) on the "
            f"evaluation halves, which the fit never saw: {_f(cal['ece_before'])} before, "
            f"{_f(cal['ece_after'])} after.",
            "",
            f"**Rule**: {body.get('rule', '')}.",
            "",
        ]
    for survey, s in body.get("surveys", {}).items():
        lines += _survey_lines(survey, s)
    gate = body.get("gate", {})
    lines += [
        f"**Gate**: {'passed' if gate.get('passed') else 'FAILED'}; " + "; ".join(gate.get("reasons", []))
    ]
    for survey, why in body.get("refused", {}).items():
        lines += ["", f"Not declared: {survey}: {why}"]
    return "\n".join(lines) + "\n"


def _survey_lines(survey: str, s: dict[str, Any]) -> list[str]:
    m, ev, ca = s["metrics"], s["evaluation_half"], s["calibration_half"]
    lines = [
        f"## {survey}",
        "",
        f"Calibration half: {ca['n']} alerts ({ca['n'] - ca['n_real']} bogus), fingerprint "
        f"{ca['fingerprint']}. Evaluation half: {ev['n']} alerts ({ev['n'] - ev['n_real']} bogus), "
        f"fingerprint {ev['fingerprint']}. Every figure below is on the evaluation half.",
        "",
        f"![reliability](reliability-{survey}.png)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| ROC-AUC [bootstrap 95%] | {_f(m.get('ROC_AUC'))} [{_f(m.get('ROC_AUC_low'))}, "
        f"{_f(m.get('ROC_AUC_high'))}] |",
        f"| ECE before / after calibration | {_f(m.get('ECE_before'))} / {_f(m.get('ECE_after'))} |",
        f"| share in the labelling band (evaluation / calibration half) | {_f(m.get('band_share'), 3)} / "
        f"{_f(m.get('band_share_calibration_half'), 3)} |",
        f"| bogus at or above the threshold / decided real (outside the band) | "
        f"{int(m.get('bogus_passed_at_threshold', 0))} / {int(m.get('bogus_decided_real', 0))} |",
        f"| real below the threshold / decided bogus | {int(m.get('real_lost_at_threshold', 0))} / "
        f"{int(m.get('real_decided_bogus', 0))} |",
        f"| non-finite scores | {int(m.get('nonfinite', 0))} |",
        "",
    ]
    table = s.get("real_alerts")
    if table:
        from rbc1000.train.report.real_alerts import summary_markdown

        lines += [summary_markdown(table, "model"), ""]
    return lines

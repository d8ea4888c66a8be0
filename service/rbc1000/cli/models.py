"""`rbc models`: look into a model registry and move its `current` pointer.

    rbc models list --registry DIR                  versions, the current one marked, gate results
    rbc models show VERSION --registry DIR          one version's lineage and gate (JSON)
    rbc models rollback VERSION --registry DIR      point `current` back to an earlier version
    rbc models import MODEL.onnx --registry DIR     register a model trained elsewhere (no gate)

`rbc serve --model-registry DIR` follows `current` without a restart. The registry is
described in `rbc1000.model.registry`; the retraining job (`rbc-train retrain`) fills it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rbc1000.ops.cli_flags import UsageError

_HELP = "model registry directory (env RBC_MODEL_REGISTRY)"


def configure(parser: argparse.ArgumentParser) -> None:
    """One parser per action, each with `--registry`."""
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    actions = {
        "list": "list the versions, the current one marked",
        "show": "print one version's lineage and gate as JSON",
        "rollback": "point current back to an earlier version",
        "import": "register an ONNX model trained elsewhere (marked ungated)",
    }
    parsers = {name: sub.add_parser(name, help=text, description=text) for name, text in actions.items()}
    for name in ("show", "rollback"):
        parsers[name].add_argument("version")
    parsers["import"].add_argument("model", type=Path, help="ONNX model exported by `rbc-train export`")
    parsers["import"].add_argument("--version", default=None, help="version name (default: the next vN)")
    parsers["import"].add_argument(
        "--make-current", action="store_true", help="also point current at it (when nothing is current)"
    )
    for sub_parser in parsers.values():
        sub_parser.add_argument("--registry", type=Path, default=None, help=_HELP)


def _registry_dir(args: argparse.Namespace) -> Path:
    root = args.registry or (
        Path(os.environ["RBC_MODEL_REGISTRY"]) if os.environ.get("RBC_MODEL_REGISTRY") else None
    )
    if root is None:
        raise UsageError("no registry: give --registry DIR or RBC_MODEL_REGISTRY")
    return Path(root)


def _gate_summary(lineage: dict[str, Any]) -> str:
    gate = lineage.get("gate")
    if not isinstance(gate, dict):
        return "ungated"
    challenger = gate.get("challenger") or {}
    auc = (challenger.get("ROC_AUC") or {}).get("value")
    ece = (challenger.get("ECE") or {}).get("value")
    verdict = "passed" if gate.get("passed") else "failed"
    return f"{verdict} auc={auc:.4f} ece={ece:.4f}" if auc is not None and ece is not None else verdict


def run(args: argparse.Namespace) -> int:
    """Do the chosen action; an unknown version or an empty registry is a usage error (exit 2)."""
    from rbc1000.model.registry import ModelRegistry, RegistryError

    registry = ModelRegistry(_registry_dir(args))
    try:
        return _act(registry, args)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None


def _act(registry: Any, args: argparse.Namespace) -> int:
    action = args.models_command
    if action == "list":
        current = registry.current_version()
        for v in registry.versions():
            mark = "*" if v.version == current else " "
            labels = (v.lineage.get("labels") or {}).get("count", "-")
            print(
                f"{mark} {v.version:<8} {v.lineage.get('created_at', '?'):<20} "
                f"parent={v.lineage.get('parent') or '-'} labels={labels} gate={_gate_summary(v.lineage)}"
            )
        if current is None:
            print("(no current version)")
        return 0
    if action == "show":
        v = registry.get(args.version)
        out = {"current": v.version == registry.current_version(), **v.lineage}
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    if action == "rollback":
        previous = registry.point(args.version, why="rollback by `rbc models rollback`")
        print(f"current: {previous or 'none'} -> {args.version}")
        return 0
    return _import(registry, args)


def _import(registry: Any, args: argparse.Namespace) -> int:
    from rbc1000.model.contract import ContractError
    from rbc1000.model.scoring import Scorer

    try:
        scorer = Scorer.load(args.model, "cpu", intra_op_threads=1)
    except (ContractError, OSError) as exc:
        raise UsageError(f"{args.model}: {exc}") from None
    lineage = {
        "parent": None,
        "source": str(args.model),
        "model_name": scorer.info.name,
        "model_version": scorer.info.version,
        "sha256": scorer.stamp.sha256,
        "gate": None,
        "note": "imported; trained outside the retraining job, no gate",
    }
    added = registry.add(args.model.read_bytes(), lineage, args.version)
    if args.make_current:
        if registry.current_version() is not None:
            raise UsageError(f"{registry.root} already has a current version; use `rbc models rollback`")
        registry.point(added.version, why=f"import of {args.model}")
    print(f"added {added.version} from {args.model}" + (" (current)" if args.make_current else ""))
    return 0

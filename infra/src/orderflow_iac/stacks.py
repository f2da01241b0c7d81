"""Every template and state machine definition of the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("orders", "inventory", "payments", "invoicing", "notifications")


def templates() -> list[Path]:
    return [REPO_ROOT / "infra" / "template.yaml"] + [
        REPO_ROOT / "services" / service / "template.yaml" for service in SERVICES
    ]


def state_machines() -> list[Path]:
    return sorted(REPO_ROOT.glob("services/*/statemachine/*.asl.json"))

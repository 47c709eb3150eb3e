"""Words for the fields every output names: postmortem sections, milestones and durations."""
from __future__ import annotations

SECTION_LABELS: dict[str, str] = {
    "summary": "Summary", "impact": "Impact",
    "root_causes": "Root causes and contributing factors", "trigger": "Trigger",
    "resolution": "Resolution", "detection": "Detection", "went_well": "What went well",
    "went_wrong": "What went wrong", "got_lucky": "Where we got lucky", "lessons": "Other lessons",
}
MILESTONE_LABELS: dict[str, str] = {
    "started_at": "Impact started", "detected_at": "Detected", "acknowledged_at": "Acknowledged",
    "mitigated_at": "Mitigated", "resolved_at": "Resolved",
}
# The lifecycle durations first (the postmortem lists these), then communication.
LIFECYCLE_DURATION_LABELS: dict[str, str] = {
    "time_to_detect": "Time to detect",
    "time_to_acknowledge": "Time to acknowledge",
    "time_to_mitigate": "Time to mitigate",
    "time_to_resolve": "Time to resolve",
    "impact_duration": "Impact duration",
}
DURATION_LABELS: dict[str, str] = {
    **LIFECYCLE_DURATION_LABELS,
    "time_to_first_update": "Time to first update",
    "longest_silence": "Longest communication silence",
}
# Event kinds as a reader says them (every table and the postmortem use these words).
KIND_LABELS: dict[str, str] = {
    "impact_started": "Impact started", "alert_firing": "Alert firing",
    "alert_resolved": "Alert resolved", "triggered": "Triggered", "notified": "Notified",
    "escalated": "Escalated", "reassigned": "Reassigned", "acknowledged": "Acknowledged",
    "responder_joined": "Responder joined", "message": "Chat message", "note": "Note",
    "status_update": "Status page update", "stakeholder_update": "Stakeholder update",
    "severity_changed": "Severity changed", "deploy": "Deploy", "mitigated": "Mitigated",
    "resolved": "Resolved", "reopened": "Reopened",
}


def kind_label(kind: object) -> str:
    """An event kind in words ("status_update" → "Status page update")."""
    text = "" if kind is None else str(kind)
    return KIND_LABELS.get(text, text.replace("_", " ").capitalize())

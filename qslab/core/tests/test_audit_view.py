"""The office reads the change log with filters and exports it as CSV."""

import csv
import io

from qslab.core.services import apply_transition


def test_audit_view_filters_by_action_and_object(clients, users, world):
    apply_transition(world.draft, "submit", users["office"], reason="ready for review")
    html = clients["office"].get("/work/audit/", {"action": "transition"}).content.decode()
    assert "ready for review" in html and "draft → in_review" in html


def test_audit_csv_has_a_header_and_one_row_per_change(clients, users, world):
    apply_transition(world.draft, "submit", users["office"], reason="ready")
    response = clients["office"].get("/work/audit.csv", {"action": "transition"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["transition"] for r in rows] == ["submit"]
    assert rows[0]["user"] == users["office"].username and rows[0]["reason"] == "ready"


def test_a_bad_date_filter_is_explained_not_crashed(clients):
    response = clients["office"].get("/work/audit/", {"since": "yesterday"})
    assert response.status_code == 200 and "is not a date" in response.content.decode()

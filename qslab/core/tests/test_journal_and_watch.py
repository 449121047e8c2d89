"""People write notes on a record and follow its changes; the office runs the reminder job with progress."""

from django.contrib.contenttypes.models import ContentType

from qslab.core.models import JournalEntry, TaskProgress, Watch


def _url(obj, what):
    return f"/work/objects/{ContentType.objects.get_for_model(obj).pk}/{obj.pk}/{what}/"


def test_committee_member_writes_a_journal_note_shown_on_the_record(clients, world):
    clients["committee"].post(_url(world.in_review, "journal"), {"text": "Discussed at the 3rd meeting."})
    entry = JournalEntry.objects.get()
    assert entry.user.username == "committee_user"
    page = clients["office"].get(f"/notices/{world.in_review.pk}/").content.decode()
    assert "Discussed at the 3rd meeting." in page


def test_a_blank_note_is_refused_with_a_message(clients, world):
    response = clients["office"].post(_url(world.draft, "journal"), {"text": "  "}, follow=True)
    assert "needs text" in response.content.decode() and not JournalEntry.objects.exists()


def test_a_reader_who_may_not_write_gets_403(clients, world):
    response = clients["client"].post(_url(world.published, "journal"), {"text": "hello"})
    assert response.status_code == 403 and not JournalEntry.objects.exists()


def test_follow_toggles(clients, world, users):
    clients["client"].post(_url(world.published, "watch"))
    assert Watch.objects.filter(user=users["client"]).count() == 1
    clients["client"].post(_url(world.published, "watch"))
    assert not Watch.objects.filter(user=users["client"]).exists()


def test_office_runs_the_reminder_job_and_sees_its_progress(clients, users):
    response = clients["office"].post("/work/tasks/run/reminders/")
    assert response.status_code == 302
    task = TaskProgress.objects.get()
    assert task.status == "done" and task.owner == users["office"] and task.percent == 100
    page = clients["office"].get(response["Location"]).content.decode()
    assert "Reminders and overdue marks" in page and '<progress value="100" max="100">' in page

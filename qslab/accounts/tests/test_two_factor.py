"""Office staff and committee members must pass TOTP before reaching anything; others need not."""

from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from qslab.accounts import services
from qslab.core.testing import current_totp, totp_device


def test_office_user_without_second_factor_is_sent_to_the_check(users):
    client = Client()
    client.force_login(users["office"])
    response = client.get("/work/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")


def test_office_user_without_a_device_is_sent_to_enrol(users):
    client = Client()
    client.force_login(users["office"])
    response = client.get("/accounts/two-factor/?next=/work/")
    assert response.status_code == 302 and "/accounts/two-factor/setup/" in response["Location"]


def test_enrolment_confirms_the_device_with_a_valid_code(users):
    client = Client()
    client.force_login(users["committee"])
    assert client.get("/accounts/two-factor/setup/").status_code == 200
    device = services.pending_totp_device(users["committee"])
    response = client.post("/accounts/two-factor/setup/", {"token": current_totp(device), "next": "/work/"})
    assert response.status_code == 302 and response["Location"] == "/work/"
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/work/").status_code == 200


def test_a_wrong_code_is_refused_with_a_message_next_to_the_field(users):
    device = totp_device(users["office"])
    client = Client()
    client.force_login(users["office"])
    wrong = f"{(int(current_totp(device)) + 1) % 1000000:06d}"
    response = client.post("/accounts/two-factor/", {"token": wrong})
    assert response.status_code == 200
    assert "not valid" in response.content.decode()
    assert client.get("/work/").status_code == 302


def test_a_valid_code_opens_the_dashboard(users):
    device = totp_device(users["office"])
    client = Client()
    client.force_login(users["office"])
    response = client.post("/accounts/two-factor/?next=/work/", {"token": current_totp(device)})
    assert response.status_code == 302 and response["Location"] == "/work/"
    assert client.get("/work/").status_code == 200


def test_roles_without_the_requirement_go_straight_in(users):
    client = Client()
    client.force_login(users["lab_manager"])
    assert client.get("/work/").status_code == 200


def test_api_session_of_an_unverified_office_user_is_not_accepted(users):
    client = Client()
    client.force_login(users["office"])
    assert client.get("/api/platform/me").status_code == 401

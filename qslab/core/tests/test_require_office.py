"""``require_office``: the one refusal the office-only API endpoints share."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from qslab.core.apitools import require_office
from qslab.core.testing import make_user

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().post("/api/anything")
    request.user = user
    return request


def test_the_office_passes():
    assert require_office(_request(make_user("office"))) is None


@pytest.mark.parametrize("role", ["committee", "expert", "authority", "lab_manager", None])
def test_any_other_role_is_refused_with_the_endpoints_sentence(role):
    with pytest.raises(PermissionDenied, match=r"Only the office files this\."):
        require_office(_request(make_user(role)), "Only the office files this.")


def test_without_a_sentence_the_refusal_says_only_the_office_may():
    with pytest.raises(PermissionDenied, match=r"Only the committee office may do this\."):
        require_office(_request(make_user("committee")))

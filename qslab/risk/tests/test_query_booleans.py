"""Boolean filters in the query string read as true/false: ?mine=true is a filter, not a 422."""

from qslab.risk.models import Signal


def _ids(response):
    assert response.status_code == 200, response.content
    body = response.json()
    return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}


def test_signals_mine_true_and_false_return_the_right_rows(world, clients):
    analyst = world.users["analyst"]
    Signal.objects.filter(pk=world.signal.pk).update(assignee=analyst)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['analyst']}"}
    client = clients["anonymous"]
    assert _ids(client.get("/api/risk/signals?mine=true", **auth)) == {world.signal.pk}
    everything = _ids(client.get("/api/risk/signals?mine=false", **auth))
    assert {world.signal.pk, world.triaged_signal.pk} <= everything
    assert _ids(client.get("/api/risk/signals", **auth)) == everything


def test_a_boolean_filter_that_is_not_a_boolean_is_named_in_the_422(world, clients):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['analyst']}"}
    response = clients["anonymous"].get("/api/risk/signals?mine=perhaps", **auth)
    assert response.status_code == 422
    assert "mine" in str(response.json()["errors"])

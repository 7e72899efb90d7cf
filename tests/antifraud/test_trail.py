"""The shopping-trail events API: merchants and shoppers report steps; replays and foreign sessions change nothing."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from antifraud.models import TrailEvent, TrailSession
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/trail/events/"


def steps(*kinds: str, prefix: str = "e") -> list[dict]:
    return [{"event_id": f"{prefix}-{i:04d}-{kind}", "kind": kind} for i, kind in enumerate(kinds)]


@pytest.fixture
def shopper_client():
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def test_a_merchant_reports_a_shoppers_steps(merchant_client):
    shopper = UserFactory()
    body = {"session_id": "sess-0001", "shopper_id": shopper.pk, "events": steps("browse", "add_to_cart", "checkout")}

    response = merchant_client.post(URL, body, format="json")

    assert response.status_code == 200 and response.json() == {"recorded": 3, "duplicates": 0}
    session = TrailSession.objects.get()
    assert session.key == f"m{merchant_client.merchant.pk}:sess-0001" and session.user == shopper
    assert list(session.events.order_by("pk").values_list("kind", flat=True)) == ["browse", "add_to_cart", "checkout"]


def test_a_replayed_event_is_recorded_once(merchant_client):
    shopper = UserFactory()
    body = {"session_id": "sess-0001", "shopper_id": shopper.pk, "events": steps("browse", "add_to_cart")}
    merchant_client.post(URL, body, format="json")

    again = merchant_client.post(URL, body, format="json")

    assert again.json() == {"recorded": 0, "duplicates": 2}
    assert TrailEvent.objects.count() == 2


def test_steps_for_another_shoppers_session_are_refused_and_write_nothing(merchant_client):
    owner, other = UserFactory(), UserFactory()
    merchant_client.post(
        URL, {"session_id": "sess-0001", "shopper_id": owner.pk, "events": steps("browse")}, format="json"
    )

    response = merchant_client.post(
        URL,
        {"session_id": "sess-0001", "shopper_id": other.pk, "events": steps("checkout", prefix="x")},
        format="json",
    )

    assert response.status_code == 404 and response.json()["code"] == "session_not_found"
    assert TrailEvent.objects.count() == 1


def test_a_shopper_reports_only_into_their_own_sessions(shopper_client):
    mine = shopper_client.post(URL, {"session_id": "app-session-1", "events": steps("browse")}, format="json")
    other = UserFactory()
    theirs = shopper_client.post(
        URL, {"session_id": "app-session-1", "shopper_id": other.pk, "events": steps("browse")}, format="json"
    )

    assert mine.status_code == 200
    assert TrailSession.objects.get().key == f"u{shopper_client.user.pk}:app-session-1"
    assert theirs.status_code == 404 and theirs.json()["code"] == "session_not_found"


def test_the_same_session_id_of_two_merchants_are_two_sessions(merchant_client, shopper_client):
    shopper = UserFactory()
    merchant_client.post(
        URL, {"session_id": "sess-0001", "shopper_id": shopper.pk, "events": steps("browse")}, format="json"
    )
    shopper_client.post(URL, {"session_id": "sess-0001", "events": steps("browse")}, format="json")

    assert TrailSession.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "sess-0001", "events": [{"event_id": "e-00000001", "kind": "teleport"}]},
        {"session_id": "sess-0001", "events": []},
        {"session_id": "x", "events": steps("browse")},
        {"session_id": "sess-0001", "events": [{"event_id": "bad id!", "kind": "browse"}]},
        {"events": steps("browse")},
    ],
    ids=["unknown-kind", "no-events", "short-session", "bad-event-id", "no-session"],
)
def test_malformed_events_are_refused_with_a_clear_400(shopper_client, body):
    response = shopper_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "details"}
    assert not TrailEvent.objects.exists()


def test_a_merchant_must_name_the_shopper(merchant_client):
    response = merchant_client.post(URL, {"session_id": "sess-0001", "events": steps("browse")}, format="json")

    assert response.status_code == 400 and response.json()["code"] == "shopper_id_required"


def test_the_store_page_records_a_browse_step_for_a_signed_in_shopper(client):
    client.get("/store/")  # anonymous: nothing to bind a trail to
    user = UserFactory()
    client.force_login(user)
    client.get("/store/")

    session = TrailSession.objects.get(user=user)
    assert session.key.startswith("page:")
    assert list(session.events.values_list("kind", flat=True)) == ["browse"]

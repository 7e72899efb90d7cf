"""Authorization sweep generated from the URLconf (OWASP API1, issue 12).

Every route of `django.urls.get_resolver()` outside the admin is a test case here, so a new route is covered the day
it is added: without an entry in ROUTES below it fails, naming the route to describe. Each entry says who may call
the route (its audience), which methods it answers, how to build its path arguments and bodies, and whose object
its path names. The sweep then calls it
- unauthenticated: 401 under /api/; a redirect to the login page on pages (the project's convention, LOGIN_URL);
- as a shopper, when the route is for merchant staff only: 403 or 404;
- as ANOTHER merchant's staff and ANOTHER shopper, when the path names an object: 404 for every method, read and
  write, and nothing written (every table of the project's apps is fingerprinted before and after);
- as the owner, last: not a 404, so the 404s above are the ownership check and not a wrong path or body.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import CAMPAIGN_MANAGER, MERCHANT_ADMIN, ROLE_PERMISSIONS
from campaigns.api import CampaignOutput
from campaigns.models import (
    Feedback,
    MilestoneAttestation,
    MilestoneProgram,
    ReferralProgram,
    ReferralReward,
    TrialAttribution,
    TrialProgram,
)
from campaigns.programs import enrolment_create
from lucky.models import LuckyPacket
from lucky.services import group_create, group_join, packet_send
from rebates.services import rebates_credit_for_redemption
from rebates.webhooks import services as webhooks
from rebates.webhooks.models import WebhookDelivery
from reports.models import Alert
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.factories.lucky import fund_cash

D = Decimal
PROJECT_APPS = ("accounts", "antifraud", "campaigns", "common", "lucky", "packets", "rebates", "reports")


# --- the world every case runs in: merchant A and its shopper own everything; B and S2 are the intruders ----------


@dataclass
class World:
    a_staff: object  # merchant A's admin
    b_staff: object  # another merchant's admin
    shopper: object  # A's customer, holder of the order below
    other_shopper: object
    campaign: object
    order: object
    packet_code: str
    endpoint: object
    delivery: object
    enrolment: object
    lucky_group: object  # the shopper's family group
    lucky_packet: object  # a lucky packet the shopper sent to it
    lucky_joined_group: object  # someone else's group the shopper joined (and so may leave)


def build_world() -> World:
    a, b = MerchantStaffFactory(), MerchantStaffFactory()
    shopper, other_shopper = UserFactory(), UserFactory()
    campaign = two_way_campaign(merchant=a.merchant, budget="5000.00")
    MilestoneProgram.objects.create(campaign=campaign, teacher_rate=D("10.00"))
    endpoint = webhooks.webhook_endpoint_create(
        merchant=a.merchant, url="http://127.0.0.1:9/hook", events=["rebate.credited", "rebate.reversed"]
    )
    first = buy(a.merchant, shopper, ("fruit", "200.00"))
    order = buy(a.merchant, shopper, ("fruit", "50.00"), code=first.earned_packets.get().code)
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)
    enrolment = enrolment_create(
        merchant=a.merchant,
        campaign_id=campaign.pk,
        teacher_id=UserFactory().pk,
        student_id=UserFactory().pk,
        external_id="ENR-SWEEP",
        tuition=D("3000.00"),
        lessons_required=12,
        deadline=timezone.now() + timedelta(days=90),
    )
    lucky_group = group_create(owner=shopper, name="Sweep family")
    fund_cash(shopper, "20.00")
    lucky_packet = packet_send(
        sender=shopper, group=lucky_group, kind=LuckyPacket.Kind.RANDOM, total=D("10.00"), share_count=3
    )
    lucky_joined_group = group_create(owner=UserFactory(), name="Sweep class")
    group_join(user=shopper, invite_token=lucky_joined_group.invite_token)
    return World(
        a_staff=a.user,
        b_staff=b.user,
        shopper=shopper,
        other_shopper=other_shopper,
        campaign=campaign,
        order=order,
        packet_code=first.earned_packets.get().code,
        endpoint=endpoint,
        delivery=WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk").first(),
        enrolment=enrolment,
        lucky_group=lucky_group,
        lucky_packet=lucky_packet,
        lucky_joined_group=lucky_joined_group,
    )


# --- the registry -------------------------------------------------------------------------------------------------

PUBLIC = "public"  # anyone, signed in or not (by design: listed with the reason)
PAGE = "page"  # a server-rendered page for a signed-in user: anonymous → the login page
API = "api"  # any authenticated API caller
API_STAFF = "api_staff"  # merchant staff (and operators) only: a shopper → 403/404
API_MERCHANT_ADMIN = "api_merchant_admin"  # a merchant's admins only: a shopper → 403/404

MERCHANT = "merchant"  # the path names merchant A's object
SHOPPER = "shopper"  # the path names the shopper's object
BOTH = "both"  # the object is A's and the shopper's: both see it, nobody else


def _campaign_body(w: World) -> dict:
    body = dict(CampaignOutput(w.campaign).data)
    body.pop("merchant")
    return body


def _key() -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}


@dataclass(frozen=True)
class Route:
    audience: str
    methods: tuple[str, ...] = ("GET",)
    owner: str | None = None
    args: Callable[[World], dict] = lambda w: {}
    bodies: dict[str, Callable[[World], dict]] = field(default_factory=dict)
    headers: Callable[[], dict] = dict
    anonymous_status: int | None = None  # a page whose convention is not the login redirect
    why: str = ""


def order_id(w):
    return {"order_id": w.order.pk}


def campaign_id(w):
    return {"campaign_id": w.campaign.pk}


ROUTES: dict[str, Route] = {
    # pages
    "": Route(PUBLIC, why="the home page"),
    "healthz": Route(PUBLIC, why="load balancers probe it"),
    "metrics": Route(PAGE, anonymous_status=401, why="a scraper's bearer token or a platform operator's session"),
    "i18n/setlang/": Route(PUBLIC, ("POST",), why="switching the language needs no account"),
    "accounts/login/": Route(PUBLIC, ("GET", "POST", "PUT"), why="Django's LoginView takes PUT as POST"),
    "accounts/logout/": Route(PUBLIC, ("POST",), why="logging out when logged out changes nothing"),
    "accounts/signup/": Route(PUBLIC, ("GET", "POST")),
    "accounts/welcome/": Route(PAGE),
    "accounts/profile/": Route(PAGE, ("GET", "POST")),
    "campaigns/<int:campaign_id>/rules/": Route(
        PUBLIC, args=campaign_id, why="a running campaign's rules are published so nobody takes them on trust"
    ),
    "store/": Route(PUBLIC, why="browsing the store needs no account"),
    "store/cart/": Route(PUBLIC, why="the cart lives in the session"),
    "store/cart/add/": Route(PUBLIC, ("POST",), why="the cart lives in the session"),
    "store/cart/update/": Route(PUBLIC, ("POST",), why="the cart lives in the session"),
    "store/checkout/": Route(PAGE, ("GET", "POST")),
    "orders/<int:order_id>/": Route(PAGE, owner=SHOPPER, args=order_id),
    "orders/<int:order_id>/status.json": Route(
        PAGE, owner=SHOPPER, args=order_id, anonymous_status=404, why="polled by script: a 404 JSON, not a redirect"
    ),
    "orders/<int:order_id>/trace/": Route(PAGE, owner=SHOPPER, args=order_id),
    "packets/": Route(PAGE),
    "claim/": Route(PUBLIC, ("GET", "POST"), why="anyone may type a code; claiming it asks them to log in"),
    "claim/campaign/<int:campaign_id>/": Route(
        PUBLIC, args=campaign_id, why="where a campaign poster's QR code leads: the campaign is public while it runs"
    ),
    "claim/<str:code>/": Route(
        PAGE,
        ("GET", "POST"),
        args=lambda w: {"code": w.packet_code},
        why="a code is a bearer secret printed on cards and posters: whoever signed in holds it may see and claim",
    ),
    "checkin/": Route(PAGE, ("GET", "POST")),
    "share/": Route(PAGE),
    "wallet/": Route(PAGE),
    "wallet/withdraw/": Route(PAGE, ("POST",)),
    "appeal/": Route(PAGE, ("GET", "POST")),
    "lucky/": Route(PAGE, ("GET", "POST")),
    "lucky/groups/<int:group_id>/": Route(PAGE, owner=SHOPPER, args=lambda w: {"group_id": w.lucky_group.pk}),
    "lucky/groups/<int:group_id>/send/": Route(
        PAGE,
        ("POST",),
        owner=SHOPPER,
        args=lambda w: {"group_id": w.lucky_group.pk},
        bodies={"POST": lambda w: {"kind": "random", "total": "1.00", "share_count": 1, "token": uuid.uuid4()}},
    ),
    "lucky/groups/<int:group_id>/leave/": Route(
        PAGE, ("POST",), owner=SHOPPER, args=lambda w: {"group_id": w.lucky_joined_group.pk}
    ),
    "lucky/groups/<int:group_id>/timeline.json": Route(
        PAGE, owner=SHOPPER, args=lambda w: {"group_id": w.lucky_group.pk}
    ),
    "lucky/packets/<int:packet_id>/grab/": Route(
        PAGE, ("POST",), owner=SHOPPER, args=lambda w: {"packet_id": w.lucky_packet.pk}
    ),
    "lucky/join/<str:token>/": Route(
        PAGE,
        ("GET", "POST"),
        args=lambda w: {"token": w.lucky_group.invite_token},
        why="the invitation token is a bearer secret: whoever holds the link may see the group and join",
    ),
    # API: collections (the caller's own rows only; covered by their apps' tests)
    "api/v1/rebates/": Route(API),
    "api/v1/wallet/": Route(API),
    "api/v1/orders/": Route(API_STAFF, ("POST",), headers=_key),
    "api/v1/packets/": Route(API),
    "api/v1/campaigns/": Route(API_STAFF, ("GET", "POST")),
    "api/v1/reports/campaigns/": Route(API_STAFF),
    "api/v1/payouts/": Route(API, ("GET", "POST"), headers=_key),
    "api/v1/payouts/notify/wechat/": Route(
        PUBLIC, ("POST",), why="WeChat Pay calls it; the body's platform signature is the authentication"
    ),
    "api/v1/webhooks/endpoints/": Route(API_MERCHANT_ADMIN, ("GET", "POST")),
    "api/v1/webhooks/deliveries/": Route(API_MERCHANT_ADMIN),
    "api/v1/milestones/enrolments/": Route(API_STAFF, ("POST",), headers=_key),
    "api/v1/trials/feedback/": Route(API, ("POST",), headers=_key),
    "api/v1/packets/claim/": Route(API, ("POST",)),
    "api/v1/lucky/packets/": Route(API, ("POST",), headers=_key),
    "api/v1/lucky/packets/sent/": Route(API),
    "api/v1/lucky/packets/received/": Route(API),
    "api/v1/lucky/packets/<int:packet_id>/": Route(API, owner=SHOPPER, args=lambda w: {"packet_id": w.lucky_packet.pk}),
    "api/v1/lucky/packets/<int:packet_id>/grab/": Route(
        API, ("POST",), owner=SHOPPER, args=lambda w: {"packet_id": w.lucky_packet.pk}
    ),
    "api/v1/lucky/groups/": Route(API, ("GET", "POST")),
    "api/v1/lucky/groups/join/": Route(API, ("POST",)),
    "api/v1/lucky/groups/<int:group_id>/": Route(API, owner=SHOPPER, args=lambda w: {"group_id": w.lucky_group.pk}),
    "api/v1/lucky/groups/<int:group_id>/leave/": Route(
        API, ("POST",), owner=SHOPPER, args=lambda w: {"group_id": w.lucky_joined_group.pk}
    ),
    "api/v1/trail/events/": Route(API, ("POST",)),
    "api/schema/": Route(PUBLIC, why="the OpenAPI schema is documentation"),
    "api/docs/": Route(PUBLIC, why="Swagger UI is documentation"),
    "api/redoc/": Route(PUBLIC, why="ReDoc is documentation"),
    # API: objects
    "api/v1/orders/<int:order_id>/": Route(API, owner=BOTH, args=order_id),
    "api/v1/orders/<int:order_id>/refunds/": Route(
        API_STAFF,
        ("POST",),
        owner=MERCHANT,
        args=order_id,
        bodies={"POST": lambda w: {"amount": "1.00", "reason": "sweep"}},
        headers=_key,
    ),
    "api/v1/campaigns/<int:campaign_id>/": Route(
        API_STAFF,
        ("GET", "PUT", "PATCH"),
        owner=MERCHANT,
        args=campaign_id,
        bodies={"PUT": _campaign_body, "PATCH": lambda w: {"description": "changed by the sweep"}},
    ),
    "api/v1/campaigns/<int:campaign_id>/status/": Route(
        API_STAFF, ("POST",), owner=MERCHANT, args=campaign_id, bodies={"POST": lambda w: {"status": "paused"}}
    ),
    "api/v1/campaigns/<int:campaign_id>/simulate/": Route(
        API_STAFF,
        ("POST",),
        owner=MERCHANT,
        args=campaign_id,
        bodies={"POST": lambda w: {"lines": [{"category": "fruit", "quantity": 1, "unit_price": "200.00"}]}},
    ),
    "api/v1/campaigns/<int:campaign_id>/changes/": Route(API_STAFF, owner=MERCHANT, args=campaign_id),
    "api/v1/campaigns/<int:campaign_id>/report/": Route(API_STAFF, owner=MERCHANT, args=campaign_id),
    "api/v1/webhooks/endpoints/<int:endpoint_id>/": Route(
        API_MERCHANT_ADMIN,
        ("GET", "PATCH", "DELETE"),
        owner=MERCHANT,
        args=lambda w: {"endpoint_id": w.endpoint.pk},
        bodies={"PATCH": lambda w: {"description": "changed by the sweep"}},
    ),
    "api/v1/webhooks/endpoints/<int:endpoint_id>/rotate-secret/": Route(
        API_MERCHANT_ADMIN, ("POST",), owner=MERCHANT, args=lambda w: {"endpoint_id": w.endpoint.pk}
    ),
    "api/v1/webhooks/deliveries/<int:delivery_id>/retry/": Route(
        API_MERCHANT_ADMIN, ("POST",), owner=MERCHANT, args=lambda w: {"delivery_id": w.delivery.pk}
    ),
    "api/v1/milestones/enrolments/<int:enrolment_id>/": Route(
        API_STAFF, owner=MERCHANT, args=lambda w: {"enrolment_id": w.enrolment.pk}
    ),
    "api/v1/milestones/enrolments/<int:enrolment_id>/attest/": Route(
        API_STAFF,
        ("POST",),
        owner=MERCHANT,
        args=lambda w: {"enrolment_id": w.enrolment.pk},
        bodies={"POST": lambda w: {"lessons_completed": 3, "assessment_passed": False, "event_id": "evt-sweep"}},
    ),
}


# --- the URLconf ----------------------------------------------------------------------------------------------------


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def project_routes() -> dict[str, URLPattern]:
    """Every route but the admin's (Django admin has its own staff check and permission system)."""
    return {route: p for route, p in _walk(get_resolver().url_patterns) if not route.startswith("admin/")}


def view_methods(pattern: URLPattern) -> set[str] | None:
    """The methods a class-based view answers (None for function views: the registry is taken at its word)."""
    cls = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
    if cls is None:
        return None
    return {m.upper() for m in cls.http_method_names if m not in ("head", "options", "trace") and hasattr(cls, m)}


def path_of(route: str, kwargs: dict) -> str:
    path = "/" + route
    for name, value in kwargs.items():
        path = re.sub(rf"<(\w+:)?{name}>", str(value), path)
    assert "<" not in path, f"cannot build {route} from {kwargs}"
    return path


# --- callers ------------------------------------------------------------------------------------------------------


def api_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def page_client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def request_as(route: str, spec: Route, world: World, user, method: str):
    """The request, ready to send: signing in happens here, so it is not counted as the request's write."""
    path = path_of(route, spec.args(world))
    body = spec.bodies.get(method, lambda w: {})(world)
    if route.startswith("api/"):
        client = api_client(user)
        return lambda: getattr(client, method.lower())(path, body, format="json", **spec.headers())
    client = page_client(user)
    return lambda: client.get(path) if method == "GET" else client.post(path, body)


def call_writing_nothing(route: str, spec: Route, world: World, user, method: str):
    send = request_as(route, spec, world, user, method)
    before = fingerprint()
    reply = send()
    assert fingerprint() == before, f"{method} {route} as {user} wrote something ({reply.status_code})"
    return reply


def fingerprint() -> dict[str, str]:
    """Every row of every table of the project's apps, hashed: a write anywhere changes it."""
    tables = [m._meta.db_table for name in PROJECT_APPS for m in apps.get_app_config(name).get_models()]
    with connection.cursor() as cursor:
        found = {}
        for table in sorted(set(tables)):
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"{table}\" t"
            )
            found[table] = cursor.fetchone()
    return found


# --- the tests ----------------------------------------------------------------------------------------------------


ALL_ROUTES = sorted(project_routes())


def test_the_registry_describes_no_route_that_no_longer_exists():
    assert sorted(set(ROUTES) - set(ALL_ROUTES)) == []


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_every_route_is_described_with_the_methods_its_view_answers(route):
    assert route in ROUTES, (
        f"{route!r} is not in the authorization sweep's registry (tests/common/test_authorization_sweep.py ROUTES): "
        "describe its audience, methods, path arguments and whose object it names"
    )
    spec = ROUTES[route]
    methods = view_methods(project_routes()[route])
    if methods is not None:
        assert set(spec.methods) == methods
    if "<" in route and spec.audience != PUBLIC:
        assert spec.owner is not None or spec.why, f"{route!r}: whose object does its path name?"


@pytest.fixture
def world(db, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_world()


PROTECTED = sorted(r for r in ALL_ROUTES if r in ROUTES and ROUTES[r].audience != PUBLIC)


@pytest.mark.parametrize("route", PROTECTED)
def test_unauthenticated_callers_are_refused(route, world):
    spec = ROUTES[route]
    for method in spec.methods:
        reply = call_writing_nothing(route, spec, world, None, method)
        if route.startswith("api/"):
            assert reply.status_code == 401, (method, reply.status_code)
            assert reply.json()["code"] == "not_authenticated"
        elif spec.anonymous_status:
            assert reply.status_code == spec.anonymous_status, (method, reply.status_code)
        else:
            assert reply.status_code == 302, (method, reply.status_code)
            assert reply["Location"].startswith(resolve_url("accounts:login") + "?next="), reply["Location"]


STAFF_ONLY = sorted(r for r in PROTECTED if ROUTES[r].audience in (API_STAFF, API_MERCHANT_ADMIN))


@pytest.mark.parametrize("route", STAFF_ONLY)
def test_staff_only_routes_refuse_a_shopper(route, world):
    spec = ROUTES[route]
    for method in spec.methods:
        reply = call_writing_nothing(route, spec, world, world.shopper, method)
        assert reply.status_code in (403, 404), (method, reply.status_code)


OBJECT_ROUTES = sorted(r for r in PROTECTED if ROUTES[r].owner)


@pytest.mark.parametrize("route", OBJECT_ROUTES)
def test_another_merchant_and_another_shopper_get_404_and_the_owner_does_not(route, world):
    spec = ROUTES[route]
    intruders = {"another merchant": world.b_staff, "another shopper": world.other_shopper}
    if spec.owner == MERCHANT and spec.audience != PAGE:
        intruders["the merchant's own shopper"] = world.shopper
    for method in spec.methods:
        for who, user in intruders.items():
            reply = call_writing_nothing(route, spec, world, user, method)
            staff_only_refusal = user in (world.shopper, world.other_shopper) and spec.audience != API
            allowed = (403, 404) if staff_only_refusal and spec.audience != PAGE else (404,)
            assert reply.status_code in allowed, (who, method, reply.status_code)
    owner = world.shopper if spec.owner == SHOPPER else world.a_staff
    for method in spec.methods:  # positive control, last (DELETE is listed last)
        reply = request_as(route, spec, world, owner, method)()
        assert reply.status_code < 400, (method, reply.status_code, getattr(reply, "content", b"")[:300])
    if spec.owner == BOTH:
        assert request_as(route, spec, world, world.shopper, "GET")().status_code == 200


# --- the admin console --------------------------------------------------------------------------------------------
# Django admin's own convention, kept by the project: anyone who is not staff (anonymous or a shopper) is sent to the
# admin's login page, which shows and writes nothing. Merchant staff use the console too, so every object page of a
# model their role may see must 404/403/redirect for ANOTHER merchant's object: ADMIN_OWNED builds merchant A's
# object for each such model. A model merchants may see without an entry here fails the sweep until one is added.


def _referral_reward(w: World):
    program = ReferralProgram.objects.create(campaign=w.campaign, inviter_rate=D("10.00"))
    return ReferralReward.objects.create(
        program=program,
        order=w.order,
        inviter=w.other_shopper,
        invitee=w.shopper,
        base=w.order.gross_amount,
        rate=D("10.00"),
        amount=D("5.00"),
        status=ReferralReward.Status.CREDITED,
    )


def _trial_program(w: World):
    return TrialProgram.objects.get_or_create(campaign=w.campaign, defaults={"merchant_fee_rate": D("5.00")})[0]


def _feedback(w: World):
    return Feedback.objects.create(program=_trial_program(w), order=w.order, shopper=w.shopper, text="good", rating=4)


def _trial_attribution(w: World):
    return TrialAttribution.objects.create(
        program=_trial_program(w),
        order=w.order,
        trial_order=w.order,
        merchant=w.campaign.merchant,
        base=w.order.gross_amount,
        rate=D("5.00"),
        amount=D("2.50"),
        status=TrialAttribution.Status.CREDITED,
    )


def _attestation(w: World):
    return MilestoneAttestation.objects.create(
        merchant=w.campaign.merchant,
        enrolment=w.enrolment,
        event_id="evt-admin",
        lessons_completed=1,
        assessment_passed=False,
        reply={},
    )


ADMIN_OWNED: dict[str, Callable[[World], object]] = {
    "accounts.Merchant": lambda w: w.campaign.merchant,
    "accounts.MerchantStaff": lambda w: w.a_staff.memberships.get(),
    "campaigns.Campaign": lambda w: w.campaign,
    "campaigns.MilestoneProgram": lambda w: w.campaign.milestone_program,
    "campaigns.ReferralProgram": lambda w: _referral_reward(w).program,
    "campaigns.ReferralReward": _referral_reward,
    "campaigns.TrialProgram": _trial_program,
    "campaigns.Feedback": _feedback,
    "campaigns.TrialAttribution": _trial_attribution,
    "campaigns.Enrolment": lambda w: w.enrolment,
    "campaigns.MilestoneAttestation": _attestation,
    "packets.Packet": lambda w: w.order.packet,
    "packets.Order": lambda w: w.order,
    "rebates.Rebate": lambda w: w.order.redemption.rebates.order_by("pk").first(),
    "rebates.WebhookEndpoint": lambda w: w.endpoint,
    "rebates.WebhookDelivery": lambda w: w.delivery,
    "reports.Alert": lambda w: Alert.objects.create(
        campaign=w.campaign,
        window_start=timezone.now(),
        window_end=timezone.now() + timedelta(minutes=10),
        used=30,
        baseline=D("1.00"),
        factor=D("3.00"),
    ),
}


def admin_routes():
    """(url name, pattern, model) of every admin page; model None for the site's own pages."""
    site = admin.site
    found = [(f"admin:{p.name}", p, None) for p in site.get_urls() if isinstance(p, URLPattern) and p.name]
    for model, model_admin in site._registry.items():
        found += [(f"admin:{p.name}", p, model) for p in model_admin.get_urls() if isinstance(p, URLPattern) and p.name]
    return found


def _merchant_models() -> set[str]:
    """Models a merchant role has any permission on (accounts.roles), so its staff see them in the console."""
    labels = set()
    for role in (MERCHANT_ADMIN, CAMPAIGN_MANAGER):
        for app_label, codename in ROLE_PERMISSIONS[role]:
            model = codename.split("_", 1)[1]
            labels |= {
                m._meta.label for m in apps.get_app_config(app_label).get_models() if m._meta.model_name == model
            }
    return labels & {m._meta.label for m in admin.site._registry}


def test_every_admin_model_merchant_staff_may_see_is_described():
    assert sorted(_merchant_models() - set(ADMIN_OWNED)) == []


def _admin_path(name: str, pattern: URLPattern, obj) -> str:
    kwargs = {}
    for arg in pattern.pattern.regex.groupindex:
        kwargs[arg] = {
            "app_label": "campaigns",
            "url": "no-such-page/",
            "content_type_id": ContentType.objects.get_for_model(type(obj)).pk if obj is not None else 1,
        }.get(arg, obj.pk if obj is not None else 1)
    return reverse(name, kwargs=kwargs)


ADMIN_ROUTES = sorted(admin_routes(), key=lambda r: r[0])
ADMIN_LOGIN = "/admin/login/"


@pytest.mark.parametrize("name,pattern,model", ADMIN_ROUTES, ids=[r[0] for r in ADMIN_ROUTES])
def test_the_admin_sends_anyone_but_staff_to_its_login(name, pattern, model, world):
    if name in ("admin:login", "admin:logout"):
        return  # the login page itself; logging out is harmless
    path = _admin_path(name, pattern, None)
    for user in (None, world.shopper):
        client = page_client(user)
        before = fingerprint()
        reply = client.get(path)
        assert reply.status_code == 302 and reply["Location"].startswith(ADMIN_LOGIN), (user, reply.status_code)
        assert fingerprint() == before


OWNED_ADMIN_ROUTES = [r for r in ADMIN_ROUTES if r[2] is not None and r[2]._meta.label in ADMIN_OWNED]


@pytest.mark.parametrize("name,pattern,model", OWNED_ADMIN_ROUTES, ids=[r[0] for r in OWNED_ADMIN_ROUTES])
def test_another_merchants_staff_never_sees_or_changes_an_object_in_the_admin(name, pattern, model, world):
    if not pattern.pattern.regex.groupindex:
        return  # list and add pages name no object
    obj = ADMIN_OWNED[model._meta.label](world)
    path = _admin_path(name, pattern, obj)
    world.b_staff.is_staff = True
    world.b_staff.save(update_fields=["is_staff"])
    world.b_staff.groups.add(Group.objects.get(name=MERCHANT_ADMIN))
    client = page_client(world.b_staff)
    for method in ("GET", "POST"):
        before = fingerprint()
        reply = client.get(path) if method == "GET" else client.post(path, {"post": "yes"})
        # 404, 403, or the admin's "does not exist" redirect to its index: never the page, never a write.
        assert reply.status_code in (302, 403, 404), (method, reply.status_code)
        if reply.status_code == 302:
            assert reply["Location"] in (reverse("admin:index"), ADMIN_LOGIN) or not reply["Location"].startswith(
                path
            ), reply["Location"]
        assert fingerprint() == before, method

"""The API keeps the promises of its OpenAPI schema (issue 12): schemathesis 4 against the live schema.

The schema is drf-spectacular's, generated from the code in this process, and every request goes through the WSGI
application in-process (no server). Three callers: merchant A's admin, A's shopper and a platform operator, each
holding a token. Every check of schemathesis is on. Path ids and codes are those of a real world (the authorization
sweep's), so generated requests reach the code behind the 404. Reproducible: SCHEMATHESIS_SEED (12) fixes the
examples; SCHEMATHESIS_MAX_EXAMPLES (10) bounds them per operation. Known exceptions: api_contract_exceptions.py.
How to run it by hand with more examples: docs/API_CONTRACT.md.
"""

import os

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from tests.common.api_contract_exceptions import POSITIVE_DATA_STATUSES, excused
from tests.common.test_authorization_sweep import build_world
from tests.factories.antifraud import platform_operator
from tests.rebates.fake_wechat import Keys

SEED = int(os.environ.get("SCHEMATHESIS_SEED", "12"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
ROLES = ("merchant", "shopper", "operator")

# The ids and codes of the current test's world, by the name the schema gives them (None outside a test).
_real_values: dict | None = None


@schemathesis.hook
def before_call(context, case, kwargs):
    """Real ids in the path and real codes in the body, so a request reaches the code behind the 404. An edit here is
    revalidated by schemathesis: a negative case whose one invalid part was replaced counts as positive."""
    if _real_values is None:
        return
    for name in case.path_parameters or {}:
        if name in _real_values:
            case.path_parameters[name] = _real_values[name]
    if isinstance(case.body, dict):
        for name in ("shopper_id", "packet_code"):
            if name in case.body and name in _real_values:
                case.body[name] = _real_values[name]


@pytest.fixture(scope="module")
def wechat_settings(tmp_path_factory):
    return Keys().write(tmp_path_factory.mktemp("wechat"))


@pytest.fixture(params=ROLES)
def caller_headers(request, db, settings, wechat_settings):
    global _real_values
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Payouts configured (keys on disk, the fake gateway's address), so a payout request meets the real checks and
    # not the 503 of a server without WeChat Pay; the test's transaction never commits, so nothing is ever sent.
    for name, value in wechat_settings.items():
        setattr(settings, name, value)
    settings.WECHATPAY_TEST_OPENID = "o-contract-openid"
    world = build_world()
    caller = {"merchant": world.a_staff, "shopper": world.shopper, "operator": platform_operator()}[request.param]
    _real_values = {
        "order_id": world.order.pk,
        "campaign_id": world.campaign.pk,
        "packet_id": world.lucky_packet.pk,
        "group_id": world.lucky_group.pk,
        "endpoint_id": world.endpoint.pk,
        "delivery_id": world.delivery.pk,
        "enrolment_id": world.enrolment.pk,
        "shopper_id": world.shopper.pk,
        "packet_code": world.packet_code,
    }
    # As Django's test client does: the test's transaction is the connection, a request must not close it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Token {Token.objects.get_or_create(user=caller)[0].key}"}
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
        _real_values = None


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES},
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_STATUSES}},
    }
)
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True), config=CONFIG)
schema.app = get_wsgi_application()


@schema.parametrize()
# The world is built once per operation and caller; the examples of one operation share it (and its transaction).
# No shrinking: a failure is reported as found (its request is printed whole), and shrinking a large JSON body on a
# slow machine can take minutes per failure; reproduce and shrink by hand with docs/API_CONTRACT.md.
@hypothesis.settings(
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
    deadline=None,
)
def test_the_api_keeps_its_schema(case, caller_headers):
    response = case.call(headers=caller_headers)
    try:
        case.validate_response(response, headers=caller_headers)
    except FailureGroup as group:
        unexcused = [f for f in group.exceptions if excused(f, case, response.text) is None]
        if unexcused:
            raise FailureGroup(unexcused, str(group)) from None

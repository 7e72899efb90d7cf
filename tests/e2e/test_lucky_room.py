"""A family's lucky money room in Chromium, in Chinese and English: the sender sends 200.00 in 3 random shares through
the room's form; a member whose room is already open sees the packet arrive without a reload and grabs it; two more
grab; the sender's room shows every grab and the best luck live; a fourth member, whose page was loaded before the
last share went, presses Grab and is told they are too late; a second packet expires and the room shows what went back.
Every step is screenshot at 360, 390 and 1280 px and no page may scroll sideways; the books are audited at the end."""

import os
import re
from decimal import Decimal

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext

from common.money import format_cny
from lucky.models import LuckyPacket, LuckyShare
from lucky.services import packet_expire, packet_grab, packet_send
from rebates.ledger import ledger_rollup
from tests.e2e.conftest import SCREENSHOTS, needs_chromium
from tests.factories.lucky import cash_of, family

pytestmark = [needs_chromium, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

D = Decimal
WIDTHS = {360: 780, 390: 844, 1280: 800}  # a small phone, a common phone (iPhone 12–14), a laptop


def sign_in(tab, user) -> None:
    """Give the tab a signed-in session (the login form has its own browser test)."""
    client = Client()
    client.force_login(user)
    tab.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": tab.base,
            }
        ]
    )


def shoot(tab, name: str) -> None:
    """Screenshots at two phones' widths and a laptop's; the room may not scroll sideways at any of them."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in WIDTHS.items():
        tab.page.set_viewport_size({"width": width, "height": height})
        tab.page.screenshot(path=str(SCREENSHOTS / f"lucky-{tab.language}-{name}-{width}.png"), full_page=True)
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
    tab.page.set_viewport_size({"width": 360, "height": WIDTHS[360]})


def packet_card(tab, packet_id: int):
    return tab.page.locator(f"#packet-{packet_id}")


def grabbed_text(grabbed: int, count: int) -> str:
    return translation.ngettext(
        "%(grabbed)s of %(count)s share grabbed", "%(grabbed)s of %(count)s shares grabbed", count
    ) % {"grabbed": grabbed, "count": count}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_send_three_grab_the_fourth_is_too_late_and_expiry_shows(open_tab, language):
    group, members = family(5, owner_cash="500.00")
    sender, watcher, second, third, late = members
    tabs = {}
    for name, user in (("sender", sender), ("watcher", watcher), ("late", late)):
        tabs[name] = open_tab(language, f"lucky-{name}")
        sign_in(tabs[name], user)
        tabs[name].go(f"/lucky/groups/{group.pk}/")
    with translation.override(language):
        text = {
            "grab": gettext("Grab"),
            "too_late": pgettext("grab result", "All grabbed"),
            "best": gettext("Best luck"),
            "all_grabbed": gettext("All shares grabbed"),
            "expired": gettext("Expired"),
            "none_yet": grabbed_text(0, 3),
            "three": grabbed_text(3, 3),
        }
    # The late member's page stops polling: it keeps showing the Grab button it loaded, as a slow phone would.
    tabs["late"].page.route(re.compile(r".*/timeline\.json.*"), lambda route: route.abort())
    shoot(tabs["sender"], "room-empty")

    # 1. Send 200.00 in three random shares through the room's form.
    page = tabs["sender"].page
    page.check("input[name=kind][value=random]")
    page.fill("#id_total", "200.00")
    page.fill("#id_share_count", "3")
    page.fill("#id_message", "新年快乐 Happy New Year")
    with page.expect_navigation():
        page.locator(f'form[action="/lucky/groups/{group.pk}/send/"] button[type=submit]').click()
    packet = LuckyPacket.objects.get(group=group)
    assert (packet.total, packet.share_count) == (D("200.00"), 3)
    assert cash_of(sender) == D("300.00")
    packet_card(tabs["sender"], packet.pk).filter(has_text=text["none_yet"]).wait_for()
    shoot(tabs["sender"], "sent")

    # 2. The watcher's room, open since before the send, shows the packet without a reload; they grab it.
    card = packet_card(tabs["watcher"], packet.pk)
    card.wait_for()
    card.get_by_role("button", name=text["grab"]).click()
    card.locator("[data-grab-result]").filter(has_text=re.compile(r"¥")).wait_for()
    share = LuckyShare.objects.get(packet=packet, grabbed_by=watcher)
    assert format_cny(share.amount) in card.inner_text()
    shoot(tabs["watcher"], "grabbed")

    # The late member loads the room while two shares are left; their page does not poll, so it keeps the button.
    tabs["late"].go(f"/lucky/groups/{group.pk}/")
    late_button = packet_card(tabs["late"], packet.pk).get_by_role("button", name=text["grab"])
    late_button.wait_for()

    # 3. Two more members grab (their own tabs, opened now).
    for name, user in (("second", second), ("third", third)):
        tabs[name] = open_tab(language, f"lucky-{name}")
        sign_in(tabs[name], user)
        tabs[name].go(f"/lucky/groups/{group.pk}/")
        card = packet_card(tabs[name], packet.pk)
        card.get_by_role("button", name=text["grab"]).click()
        card.locator("[data-grab-result]").filter(has_text=re.compile(r"¥")).wait_for()
    packet.refresh_from_db()
    assert packet.status == LuckyPacket.Status.GRABBED_OUT
    amounts = sorted(LuckyShare.objects.filter(packet=packet).values_list("amount", flat=True))
    assert sum(amounts) == D("200.00") and all(a >= D("0.01") for a in amounts)

    # The sender's room, not reloaded, shows all three grabs, the best luck and the packet closed.
    sender_card = packet_card(tabs["sender"], packet.pk)
    sender_card.filter(has_text=text["three"]).wait_for()
    sender_card.locator(".badge", has_text=text["best"]).wait_for()
    assert text["all_grabbed"] in sender_card.inner_text()
    for amount in amounts:
        assert format_cny(amount) in sender_card.inner_text()
    shoot(tabs["sender"], "all-grabbed")

    # 4. The fourth member presses the Grab button their page still shows: too late, nothing paid.
    late_button.click()
    late_card = packet_card(tabs["late"], packet.pk)
    late_card.locator("[data-grab-result]").filter(has_text=text["too_late"]).wait_for()
    assert late_card.get_by_role("button", name=text["grab"]).count() == 0
    assert cash_of(late) == D("0.00")
    shoot(tabs["late"], "too-late")

    # 5. A second packet: one share grabbed, then its time passes and the rest goes back; the room shows it live.
    second_packet = packet_send(
        sender=sender, group=group, kind=LuckyPacket.Kind.EQUAL, total=D("30.00"), share_count=3, message="expiring"
    )
    packet_grab(packet=second_packet, user=watcher)
    LuckyPacket.objects.filter(pk=second_packet.pk).update(expires_at=timezone.now())
    assert packet_expire(packet_id=second_packet.pk) == D("20.00")
    with translation.override(language):
        returned = gettext("%(amount)s returned to the sender") % {"amount": format_cny(D("20.00"))}
    expired_card = packet_card(tabs["sender"], second_packet.pk)
    expired_card.filter(has_text=returned).wait_for()
    assert text["expired"] in expired_card.inner_text()
    shoot(tabs["sender"], "expired")

    assert cash_of(sender) == D("300.00") - D("30.00") + D("20.00")
    assert cash_of(watcher) == share.amount + D("10.00")
    for tab in tabs.values():
        assert tab.foreign_requests() == []
    ledger_rollup()
    call_command("audit")

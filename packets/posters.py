"""Offline posters (seed §3: 線下海報): a printable page with a QR code to a campaign's claim link, tagged with the
channel it hangs in (`?ch=mall-3f-east`) so every claim and order it brings is attributed to that spot.

The poster is an HTML page with the QR inline as SVG, printed by the browser (Ctrl-P → A4). Why not a PNG: the
campaign name and rules are Chinese, and drawing CJK text into a raster needs a CJK font file on the server, which a
fresh machine does not have; the browser has system fonts, the SVG QR stays sharp at any print size, and no Pillow
is needed. The QR alone is also offered as SVG or PNG (segno writes PNG itself) for designers' own layouts.
"""

import io
import re
from urllib.parse import urlencode

import segno
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from common.errors import ApplicationError

CHANNEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")  # fits Packet.channel (16)


class InvalidChannel(ApplicationError):
    code = "invalid_channel"


def clean_channel(channel: str) -> str:
    channel = (channel or "").strip()
    if not CHANNEL_PATTERN.match(channel):
        raise InvalidChannel(
            _("A channel is 1–16 letters, digits, '-' or '_', starting with a letter or digit (e.g. mall-3f).")
        )
    return channel


def campaign_claim_path(campaign_id: int, channel: str) -> str:
    """Where a poster's QR leads: the campaign's claim page (served by the pages app), with the channel."""
    return f"/claim/campaign/{campaign_id}/?{urlencode({'ch': clean_channel(channel)})}"


def _qr(url: str) -> segno.QRCode:
    # Level M survives a smudge or a fold (15 % of the modules) and keeps the code small enough to scan from 1 m.
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> str:
    """The QR as an inline, scalable <svg> (sized by CSS)."""
    return _qr(url).svg_inline(omitsize=True, border=4, svgclass="qr", lineclass=None, title=url)


def qr_png(url: str, *, scale: int = 12) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def _offer(campaign: Campaign) -> dict:
    """The packet amounts to print: the largest a shopper can get and the minimum spend to use it."""
    best, min_spend = None, None
    for rule in campaign.earn_rules.all():
        try:
            tiers = rule.parsed_tiers()
        except ValueError:
            tiers = ()
        top = max((t.amount for t in tiers), default=rule.packet_amount)
        if best is None or top > best:
            best, min_spend = top, rule.min_spend
    return {"top_amount": best, "min_spend": min_spend}


def poster_html(*, campaign: Campaign, channel: str, base_url: str, request=None) -> str:
    """The printable poster for (campaign, channel). `base_url` is the site's origin, e.g. https://hb.example.com."""
    url = base_url.rstrip("/") + campaign_claim_path(campaign.pk, channel)
    context = {
        "campaign": campaign,
        "channel": clean_channel(channel),
        "claim_url": url,
        "qr_svg": mark_safe(qr_svg(url)),  # noqa: S308 — segno's own markup; the URL is escaped inside <title>
        **_offer(campaign),
    }
    return render_to_string("packets/poster.html", context, request=request)

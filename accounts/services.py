"""Writes to accounts: every change to users, merchants and devices made by pages, admin or tasks goes through here."""

from collections.abc import Iterable

from django.db import transaction

from .models import Device, Merchant, User


@transaction.atomic
def users_set_banned(*, user_ids: Iterable[int], banned: bool) -> int:
    """Ban (or unban) users. Returns how many rows changed. Antifraud penalties call this too."""
    return User.objects.filter(pk__in=list(user_ids)).exclude(is_banned=banned).update(is_banned=banned)


@transaction.atomic
def devices_set_banned(*, device_ids: Iterable[int], banned: bool) -> int:
    return Device.objects.filter(pk__in=list(device_ids)).exclude(is_banned=banned).update(is_banned=banned)


@transaction.atomic
def merchants_set_verified(*, merchant_ids: Iterable[int], verified: bool) -> int:
    return Merchant.objects.filter(pk__in=list(merchant_ids)).exclude(is_verified=verified).update(is_verified=verified)

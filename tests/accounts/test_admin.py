"""Django admin for accounts: pages load for a superuser, forms save, actions go through accounts.services."""

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from accounts.models import Device, Merchant, MerchantStaff, User
from tests.factories.accounts import DeviceFactory, MerchantFactory, MerchantStaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    staff = MerchantStaffFactory(user=UserFactory(phone="13700000001", province="广东", city="深圳"))
    DeviceFactory(owner=staff.user)
    MerchantFactory(name="未认证商家", is_verified=False)
    return staff


def test_every_accounts_model_is_registered():
    for model in (User, Merchant, MerchantStaff, Device):
        assert site.is_registered(model)


@pytest.mark.parametrize("model", ["user", "merchant", "merchantstaff", "device"])
def test_changelists_load_for_a_superuser(admin_client, data, model):
    response = admin_client.get(reverse(f"admin:accounts_{model}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_user_changelist_shows_phone_region_and_ban(admin_client, data):
    html = admin_client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "13700000001" in html
    assert "深圳" in html
    assert "column-is_banned" in html


def test_user_changelist_search_by_phone(admin_client, data):
    response = admin_client.get(reverse("admin:accounts_user_changelist"), {"q": "13700000001"})
    assert list(response.context["cl"].result_list) == [data.user]


def test_user_change_form_shows_invite_code_read_only(admin_client, data):
    response = admin_client.get(reverse("admin:accounts_user_change", args=[data.user.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert data.user.invite_code in html
    assert 'name="invite_code"' not in html
    for field in ("phone", "province", "city", "is_banned"):
        assert f'name="{field}"' in html


def test_add_two_users_without_phone(admin_client):
    url = reverse("admin:accounts_user_add")
    assert admin_client.get(url).status_code == 200
    for name in ("alice", "bob"):
        response = admin_client.post(
            url,
            {"username": name, "phone": "", "email": "", "password1": "a-Long-pass-9", "password2": "a-Long-pass-9"},
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(User.objects.filter(username__in=["alice", "bob"]).values_list("phone", flat=True)) == [None, None]


def test_add_user_with_a_taken_phone_is_refused(admin_client, data):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"username": "carol", "phone": "13700000001", "password1": "a-Long-pass-9", "password2": "a-Long-pass-9"},
    )
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors


def test_merchant_change_form_has_the_staff_inline(admin_client, data):
    response = admin_client.get(reverse("admin:accounts_merchant_change", args=[data.merchant.pk]))
    assert response.status_code == 200
    assert "memberships-TOTAL_FORMS" in response.content.decode()


def test_merchant_list_filter_verified(admin_client, data):
    response = admin_client.get(reverse("admin:accounts_merchant_changelist"), {"is_verified__exact": "0"})
    assert [m.name for m in response.context["cl"].result_list] == ["未认证商家"]


def test_device_change_form_loads(admin_client, data):
    device = Device.objects.get()
    assert admin_client.get(reverse("admin:accounts_device_change", args=[device.pk])).status_code == 200


def test_admin_header_is_chinese_first(admin_client):
    html = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "红包双向返利 管理后台" in html
    html = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Red-packet two-way rebates · Admin" in html


def test_ban_and_unban_users_action(admin_client):
    users = UserFactory.create_batch(2)
    url = reverse("admin:accounts_user_changelist")
    ids = [u.pk for u in users]
    asked = admin_client.post(url, {"action": "ban_users", "_selected_action": ids})
    assert 'name="reason"' in asked.content.decode()  # a ban asks why first (antifraud records it)
    assert User.objects.filter(pk__in=ids, is_banned=True).count() == 0
    ban = {"action": "ban_users", "_selected_action": ids, "apply": "1", "reason": "farming"}
    response = admin_client.post(url, ban, follow=True)
    assert response.status_code == 200
    assert "2 users banned." in response.content.decode()
    assert User.objects.filter(pk__in=ids, is_banned=True).count() == 2
    admin_client.post(url, {**ban, "action": "unban_users", "reason": "appeal accepted"})
    assert User.objects.filter(pk__in=ids, is_banned=True).count() == 0


def test_verify_merchants_action(admin_client, data):
    merchant = Merchant.objects.get(name="未认证商家")
    url = reverse("admin:accounts_merchant_changelist")
    admin_client.post(url, {"action": "verify_merchants", "_selected_action": [merchant.pk]})
    merchant.refresh_from_db()
    assert merchant.is_verified
    admin_client.post(url, {"action": "unverify_merchants", "_selected_action": [merchant.pk]})
    merchant.refresh_from_db()
    assert not merchant.is_verified


def test_ban_devices_action(admin_client, data):
    device = Device.objects.get()
    url = reverse("admin:accounts_device_changelist")
    ban = {"action": "ban_devices", "_selected_action": [device.pk], "apply": "1", "reason": "emulator farm"}
    admin_client.post(url, ban)
    device.refresh_from_db()
    assert device.is_banned
    admin_client.post(url, {**ban, "action": "unban_devices", "reason": "a shared family tablet"})
    device.refresh_from_db()
    assert not device.is_banned


def test_staff_without_permission_sees_no_user_admin(client):
    clerk = UserFactory(is_staff=True)
    client.force_login(clerk)
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 403


def _merchant_admin_of_another_merchant(client):
    from django.contrib.auth.models import Group

    from accounts.roles import MERCHANT_ADMIN

    intruder = MerchantStaffFactory(user=UserFactory(is_staff=True))
    intruder.user.groups.add(Group.objects.get(name=MERCHANT_ADMIN))
    client.force_login(intruder.user)
    return intruder


def test_a_merchant_admin_cannot_open_another_merchants_page_or_its_staff(client, data):
    _merchant_admin_of_another_merchant(client)
    assert client.get(reverse("admin:accounts_merchant_change", args=[data.merchant.pk])).status_code == 302
    assert client.get(reverse("admin:accounts_merchantstaff_change", args=[data.pk])).status_code == 302
    changelist = client.get(reverse("admin:accounts_merchantstaff_changelist"))
    assert data.user.phone not in changelist.content.decode()


def test_a_merchant_admin_cannot_change_another_merchants_staff(client, data):
    _merchant_admin_of_another_merchant(client)
    client.post(
        reverse("admin:accounts_merchantstaff_change", args=[data.pk]),
        {"merchant": data.merchant.pk, "user": data.user.pk, "role": MerchantStaff.Role.CAMPAIGN_MANAGER},
    )
    data.refresh_from_db()
    assert data.role == MerchantStaff.Role.ADMIN


def test_a_merchant_admin_cannot_move_its_staff_row_to_another_merchant_or_user(client, data):
    intruder = _merchant_admin_of_another_merchant(client)
    client.post(
        reverse("admin:accounts_merchantstaff_change", args=[intruder.pk]),
        {"merchant": data.merchant.pk, "user": data.user.pk, "role": MerchantStaff.Role.ADMIN},
    )
    intruder.refresh_from_db()
    assert intruder.merchant_id != data.merchant.pk and intruder.user_id != data.user.pk


def test_a_merchant_admin_sees_its_own_merchant_and_staff(client, data):
    intruder = _merchant_admin_of_another_merchant(client)
    assert client.get(reverse("admin:accounts_merchant_change", args=[intruder.merchant.pk])).status_code == 200
    assert client.get(reverse("admin:accounts_merchantstaff_change", args=[intruder.pk])).status_code == 200

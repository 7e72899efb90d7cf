import pytest
from django.contrib.auth.models import Group

from accounts import roles


@pytest.mark.django_db
def test_roles_exist_as_groups_with_permissions():
    names = set(Group.objects.values_list("name", flat=True))
    assert {roles.PLATFORM_OPERATOR, roles.MERCHANT_ADMIN, roles.CAMPAIGN_MANAGER, roles.SHOPPER} <= names
    manager = Group.objects.get(name=roles.CAMPAIGN_MANAGER)
    assert manager.permissions.filter(codename="change_campaign").exists()
    assert not manager.permissions.filter(codename="delete_campaign").exists()

import factory
from django.contrib.auth.models import Group

from accounts.roles import PLATFORM_OPERATOR
from antifraud.models import Appeal, Finding, RiskPolicy

from .accounts import UserFactory


def platform_operator(**kwargs):
    """A staff user in the platform operators' group (not a superuser: the group is what grants the console)."""
    user = UserFactory(is_staff=True, **kwargs)
    user.groups.add(Group.objects.get_or_create(name=PLATFORM_OPERATOR)[0])
    return user


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    kind = Finding.Kind.PACKET_FARM
    fingerprint = factory.Sequence(lambda n: f"fp-{n:06d}")
    explanation = "Five accounts on one device claimed packets within minutes."
    user_ids = factory.List([])


class AppealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appeal

    user = factory.SubFactory(UserFactory, is_banned=True)
    text = "I only bought groceries for my family."
    contact = "13800000000"


class RiskPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskPolicy

    action = RiskPolicy.Action.ALLOW

import factory

from accounts.models import Device, Merchant, MerchantStaff, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("s3cret-pass!")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    is_verified = True


class MerchantStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantStaff

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = MerchantStaff.Role.ADMIN


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    fingerprint = factory.Sequence(lambda n: f"device-{n:06d}")

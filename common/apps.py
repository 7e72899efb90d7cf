from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = _("Common")

    def ready(self):
        from django.db import models
        from rest_framework.serializers import ModelSerializer

        from .api import DateTimeField

        # Every ModelSerializer's date-times read and write by the project's rules (RFC 3339, years 2000–2100) without
        # each serializer having to remember; fields declared by hand use common.api.DateTimeField.
        ModelSerializer.serializer_field_mapping[models.DateTimeField] = DateTimeField

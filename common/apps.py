from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Common"

    def ready(self):
        from django.db import models
        from rest_framework.serializers import ModelSerializer

        from .api import DateTimeField

        # Every ModelSerializer's date-times read and write by the project's rules (RFC 3339, years 2000–2100) without
        # each serializer having to remember; fields declared by hand use common.api.DateTimeField.
        ModelSerializer.serializer_field_mapping[models.DateTimeField] = DateTimeField

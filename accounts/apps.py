from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from .roles import ensure_roles

        # Every app's post_migrate: permissions of later apps exist only after their own migrate signal.
        post_migrate.connect(ensure_roles, dispatch_uid="accounts.ensure_roles")

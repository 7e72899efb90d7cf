from django.contrib.auth import views as auth_views

from .forms import LoginForm


class LoginView(auth_views.LoginView):
    """Sign in with username, phone or email; a signed-in visitor is sent on instead of seeing the form again."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5): a GET answers 405, so a link or an image tag cannot sign anybody out."""

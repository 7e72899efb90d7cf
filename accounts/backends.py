"""Sign in with a username, a phone number or an email address — whichever the user remembers.

The identifier is tried as a username first, then as a phone, then as an email (case-insensitive); an email shared by
several accounts is ambiguous and signs nobody in. Inactive accounts cannot sign in. Banned accounts can: every page
then answers with the suspension notice and a link to the appeal form (antifraud/middleware.py).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

PHONE_STRIP = str.maketrans("", "", " -()")


def normalize_phone(value: str) -> str:
    """'+86 138-0000-0000' → '13800000000'. Only for lookups; stored phones are already normalized."""
    phone = value.translate(PHONE_STRIP)
    if phone.startswith("+86"):
        phone = phone[3:]
    return phone


class UsernamePhoneEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        UserModel = get_user_model()
        if username is None:
            username = kwargs.get(UserModel.USERNAME_FIELD)
        if not username or password is None:
            return None
        user = self._find_user(UserModel, username.strip())
        if user is None:
            # Run the password hasher once anyway so a missing account takes as long as a wrong password.
            UserModel().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    @staticmethod
    def _find_user(UserModel, identifier: str):
        if not identifier:
            return None
        user = UserModel._default_manager.filter(username=identifier).first()
        if user is not None:
            return user
        phone = normalize_phone(identifier)
        if phone:
            user = UserModel._default_manager.filter(phone=phone).first()
            if user is not None:
                return user
        if "@" in identifier:
            matches = list(UserModel._default_manager.filter(email__iexact=identifier)[:2])
            if len(matches) == 1:
                return matches[0]
        return None

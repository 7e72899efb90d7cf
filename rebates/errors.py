from django.utils.translation import gettext as _

from common.errors import ApplicationError, Conflict


class LedgerError(ApplicationError):
    code = "ledger_error"
    status_code = 400


class InsufficientFunds(Conflict):
    code = "insufficient_funds"

    def __init__(self, account_id: int, message: str = ""):
        super().__init__(
            message or _("Account %(account_id)s has insufficient funds.") % {"account_id": account_id},
            details={"account": account_id},
        )
        self.account_id = account_id


class IdempotencyMismatch(LedgerError):
    code = "ledger_idempotency_mismatch"
    status_code = 409

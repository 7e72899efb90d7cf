from common.errors import ApplicationError, Conflict


class LedgerError(ApplicationError):
    code = "ledger_error"
    status_code = 400


class InsufficientFunds(Conflict):
    code = "insufficient_funds"

    def __init__(self, account_id: int, message: str = ""):
        super().__init__(message or f"Account {account_id} has insufficient funds.", details={"account": account_id})
        self.account_id = account_id


class IdempotencyMismatch(LedgerError):
    code = "ledger_idempotency_mismatch"
    status_code = 409

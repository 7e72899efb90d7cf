"""The one module that talks to WeChat Pay (through the `wechatpayv3` library, API v3 only).

It turns the library's `(status, text)` replies and exceptions into a small `Reply` the payout service can decide on:

* `BILL`       WeChat answered (signed, verified) with the bill: its state is known.
* `NOT_FOUND`  a query found no bill under that out_bill_no: it was never created.
* `REJECTED`   WeChat refused the request for good (bad parameters, no permission): the bill was not created.
* `UNKNOWN`    timeout, connection error, 5xx, a reply whose signature does not verify, a throttle, "not enough
               money in the merchant account"…: the bill may or may not exist. Query before doing anything else.

The client is built from the WECHATPAY_* settings with the platform public key (`public_key` + `public_key_id`), so it
never downloads certificates, and its gateway is `settings.WECHATPAY_GATEWAY` (the local fake in tests and demo runs).
"""

import enum
import json
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from wechatpayv3 import WeChatPay, WeChatPayType

from common.errors import ApplicationError

log = logging.getLogger(__name__)

REAL_GATEWAY = "https://api.mch.weixin.qq.com"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# A notification older (or newer) than this is refused: a captured notification cannot be replayed later.
NOTIFICATION_MAX_SKEW_SECONDS = 300
NOTIFICATION_EVENT = "MCHTRANSFER.BILL.FINISHED"
TRANSFER_REMARK = "红包返利提现"
# Scene 1000 (现金营销) must report these two items; what the user sees on receipt.
SCENE_REPORT_INFOS = [
    {"info_type": "活动名称", "info_content": "红包双向返利"},
    {"info_type": "奖励说明", "info_content": "返利提现"},
]
RECV_PERCEPTION = "现金奖励"
# Error codes after which WeChat has not created the bill and never will for this request.
PERMANENT_ERRORS = {"PARAM_ERROR", "INVALID_REQUEST", "NO_AUTH"}


class BillState:
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELLED = "CANCELLED"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
    # Anything else (ACCEPTED, PROCESSING, WAIT_USER_CONFIRM, TRANSFERING, CANCELING) is still moving.
    FAILED = frozenset({FAIL, CANCELLED})


class Outcome(enum.Enum):
    BILL = "bill"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Bill:
    out_bill_no: str
    state: str
    transfer_bill_no: str = ""
    amount_fen: int | None = None
    fail_reason: str = ""
    # Only the create reply carries it (WAIT_USER_CONFIRM): the user confirms receipt in WeChat with it.
    package_info: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "Bill":
        amount = data.get("transfer_amount")
        return cls(
            out_bill_no=str(data.get("out_bill_no", "")),
            state=str(data.get("state", "")),
            transfer_bill_no=str(data.get("transfer_bill_no", "")),
            amount_fen=int(amount) if isinstance(amount, int) else None,
            fail_reason=str(data.get("fail_reason", "")),
            package_info=str(data.get("package_info", "")),
        )


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    bill: Bill | None = None
    http_status: int | None = None
    code: str = ""
    message: str = ""

    def describe(self) -> str:
        status = f"HTTP {self.http_status} " if self.http_status else ""
        return f"{self.outcome.value}: {status}{self.code} {self.message}".strip()


class WechatNotConfigured(ApplicationError):
    status_code = 503
    code = "wechat_not_configured"


class NotificationRejected(ApplicationError):
    status_code = 401
    code = "invalid_notification"


@dataclass(frozen=True)
class Config:
    mchid: str
    appid: str
    private_key_path: str
    cert_serial_no: str
    apiv3_key: str
    public_key_path: str
    public_key_id: str
    gateway: str
    notify_url: str
    timeout: float


def config() -> Config:
    cfg = Config(
        mchid=settings.WECHATPAY_MCHID,
        appid=settings.WECHATPAY_APPID,
        private_key_path=settings.WECHATPAY_PRIVATE_KEY_PATH,
        cert_serial_no=settings.WECHATPAY_CERT_SERIAL_NO,
        apiv3_key=settings.WECHATPAY_APIV3_KEY,
        public_key_path=settings.WECHATPAY_PUBLIC_KEY_PATH,
        public_key_id=settings.WECHATPAY_PUBLIC_KEY_ID,
        gateway=settings.WECHATPAY_GATEWAY.rstrip("/"),
        notify_url=settings.WECHATPAY_NOTIFY_URL,
        timeout=settings.WECHATPAY_TIMEOUT_SECONDS,
    )
    missing = [
        name
        for name in ("mchid", "appid", "private_key_path", "cert_serial_no", "apiv3_key", "public_key_path")
        if not getattr(cfg, name)
    ] + ([] if cfg.public_key_id else ["public_key_id"])
    if missing:
        raise WechatNotConfigured(
            _("WeChat Pay payouts are not configured on this server."), details={"missing": sorted(missing)}
        )
    return cfg


def is_configured() -> bool:
    try:
        config()
    except WechatNotConfigured:
        return False
    return True


def is_real_gateway() -> bool:
    return settings.WECHATPAY_GATEWAY.rstrip("/") == REAL_GATEWAY


@lru_cache(maxsize=4)
def _client_for(cfg: Config) -> WeChatPay:
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=cfg.mchid,
        private_key=Path(cfg.private_key_path).read_text(),
        cert_serial_no=cfg.cert_serial_no,
        appid=cfg.appid,
        apiv3_key=cfg.apiv3_key,
        notify_url=cfg.notify_url or None,
        logger=log,
        timeout=cfg.timeout,
        # With the platform public key the client never fetches /v3/certificates.
        public_key=Path(cfg.public_key_path).read_text(),
        public_key_id=cfg.public_key_id,
    )
    # The library has no constructor argument for the gateway.
    client._core._gate_way = cfg.gateway
    return client


def client() -> WeChatPay:
    return _client_for(config())


def _error_fields(text) -> tuple[str, str]:
    try:
        body = json.loads(text)
        return str(body.get("code", "")), str(body.get("message", ""))
    except (TypeError, ValueError, AttributeError):
        return "", str(text)[:200]


def _call(fn, **kwargs) -> tuple[int | None, object, str]:
    """(status, text, error): status None when no verified reply came back."""
    try:
        status, text = fn(**kwargs)
        return status, text, ""
    except requests.Timeout as exc:
        return None, None, f"timeout: {exc}"
    except requests.RequestException as exc:
        return None, None, f"connection error: {exc}"
    except Exception as exc:  # the library raises bare Exception, e.g. 'failed to verify the signature'
        return None, None, f"{type(exc).__name__}: {exc}"


def _bill_reply(status: int, text) -> Reply:
    try:
        bill = Bill.from_json(json.loads(text))
    except (TypeError, ValueError, AttributeError):
        return Reply(Outcome.UNKNOWN, http_status=status, message=f"unreadable reply: {str(text)[:200]}")
    if not bill.out_bill_no or not bill.state:
        return Reply(Outcome.UNKNOWN, http_status=status, message=f"incomplete bill: {str(text)[:200]}")
    return Reply(Outcome.BILL, bill=bill, http_status=status)


def transfer_create(*, out_bill_no: str, openid: str, amount_fen: int) -> Reply:
    """发起转账. WeChat keeps one bill per out_bill_no: sending the same one again returns the existing bill."""
    status, text, error = _call(
        client().mch_transfer_bills,
        out_bill_no=out_bill_no,
        transfer_scene_id=settings.WECHATPAY_TRANSFER_SCENE_ID,
        openid=openid,
        transfer_amount=amount_fen,
        transfer_remark=TRANSFER_REMARK,
        user_recv_perception=RECV_PERCEPTION,
        transfer_scene_report_infos=SCENE_REPORT_INFOS,
    )
    if status is None:
        return Reply(Outcome.UNKNOWN, message=error)
    if 200 <= status < 300:
        return _bill_reply(status, text)
    code, message = _error_fields(text)
    if 400 <= status < 500 and code in PERMANENT_ERRORS:
        return Reply(Outcome.REJECTED, http_status=status, code=code, message=message)
    return Reply(Outcome.UNKNOWN, http_status=status, code=code, message=message)


def transfer_query(*, out_bill_no: str) -> Reply:
    """查询转账单 by our out_bill_no."""
    status, text, error = _call(client().mch_transfer_bills_query, out_bill_no=out_bill_no)
    if status is None:
        return Reply(Outcome.UNKNOWN, message=error)
    if 200 <= status < 300:
        return _bill_reply(status, text)
    code, message = _error_fields(text)
    if status == 404 and code == "NOT_FOUND":
        return Reply(Outcome.NOT_FOUND, http_status=status, code=code, message=message)
    return Reply(Outcome.UNKNOWN, http_status=status, code=code, message=message)


NOTIFICATION_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)


def notification_parse(headers, body: bytes) -> dict:
    """Verify (platform key signature), check freshness and decrypt (AES-256-GCM with the APIv3 key) a notification.

    Returns the decrypted `resource` of a transfer-bill notification; raises NotificationRejected otherwise."""
    cfg = config()
    wanted = {name: headers.get(name, "") for name in NOTIFICATION_HEADERS}
    # Only our configured platform key may sign: any other serial would make the library go and download
    # certificates from the gateway — a request an anonymous caller must not be able to trigger.
    if wanted["Wechatpay-Serial"] != cfg.public_key_id or wanted["Wechatpay-Signature-Type"] != SIGNATURE_TYPE:
        raise NotificationRejected(_("Unknown signing key."), code="invalid_signature")
    try:
        stamp = int(wanted["Wechatpay-Timestamp"])
    except ValueError:
        raise NotificationRejected(_("Missing or malformed timestamp."), code="invalid_signature") from None
    if abs(time.time() - stamp) > NOTIFICATION_MAX_SKEW_SECONDS:
        raise NotificationRejected(_("The notification is too old or from the future."), code="stale_notification")
    try:
        data = client().callback(wanted, body)
    except Exception as exc:  # the library raises bare Exception on malformed input
        raise NotificationRejected(
            _("Unreadable notification: %(name)s.") % {"name": type(exc).__name__}, code="invalid_signature"
        ) from exc
    if not data:  # signature did not verify, or the resource did not decrypt
        raise NotificationRejected(_("The signature does not verify."), code="invalid_signature")
    if data.get("event_type") != NOTIFICATION_EVENT:
        raise ApplicationError(
            _("Unexpected event %(event_type)s.") % {"event_type": repr(data.get("event_type"))},
            code="unexpected_event",
        )
    resource = data.get("resource")
    if not isinstance(resource, dict) or not resource.get("out_bill_no") or not resource.get("state"):
        raise ApplicationError(_("The notification carries no transfer bill."), code="unexpected_event")
    return resource

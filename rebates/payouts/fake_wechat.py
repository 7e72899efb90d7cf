"""A local fake of WeChat Pay's 商家转账 API (v3), strict enough that the real `wechatpayv3` client talks to it.

* Requests must carry a valid `Authorization: WECHATPAY2-SHA256-RSA2048 …` signed with the merchant's private key
  (checked with the merchant public key), the right mchid and certificate serial — else 401 SIGN_ERROR.
* Replies are signed with a test platform key (`Wechatpay-Signature/-Timestamp/-Nonce/-Serial/-Signature-Type`), as
  the client verifies every 2xx reply.
* Bills are kept by out_bill_no: the same out_bill_no returns the existing bill (with other parameters: 400).
* Faults on demand: `fail_next(kind)` — "timeout_after_create" (the bill is created, the reply is late),
  "timeout_before_create", "5xx", "5xx_after_create", "reject" (400 PARAM_ERROR), "bad_signature" (a 200 whose
  signature does not verify); `fail_next(kind, route="query")` for queries ("5xx", "timeout_before_create").
* `notification(out_bill_no)` builds a signed, AES-GCM-encrypted MCHTRANSFER.BILL.FINISHED notification.

Used by the tests (`tests/rebates/fake_wechat.py` re-exports it) and by `make run` in demo mode (no WECHATPAY_MCHID):
config/runstack.py starts it as a child process. Standalone (bills succeed at once unless `--state` says otherwise):
    python -m rebates.payouts.fake_wechat --port 8765 --dir var/wechat-fake [--state WAIT_USER_CONFIRM]
writes the keys there, writes `<dir>/env` and prints the WECHATPAY_* environment that points the app at it.
Never used against real money: the payout client refuses the test openid on the real gateway.
"""

import argparse
import base64
import json
import re
import secrets
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TRANSFER_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
QUERY_RE = re.compile(r"^/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/([A-Za-z0-9]+)$")
AUTH_RE = re.compile(r'(\w+)="([^"]*)"')
DEMO_OPENID = "o-demo-openid-000000000000"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def package_info_for(out_bill_no: str) -> str:
    """The fake's package_info of a bill waiting for the user's confirmation (stable per bill)."""
    return base64.b64encode(f"fake-package:{out_bill_no}".encode()).decode()


def _now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


@dataclass
class Keys:
    """Everything both sides need. The merchant keeps `merchant`; WeChat keeps `platform`."""

    mchid: str = "1900000109"
    appid: str = "wx8888888888888888"
    cert_serial_no: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    public_key_id: str = "PUB_KEY_ID_0114232134912410000000000000"
    apiv3_key: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 ASCII chars = AES-256
    merchant: rsa.RSAPrivateKey = field(default_factory=_new_key)
    platform: rsa.RSAPrivateKey = field(default_factory=_new_key)

    def write(self, folder: Path) -> dict[str, str]:
        """Write the merchant private key and the platform public key; the WECHATPAY_* settings for the client."""
        folder.mkdir(parents=True, exist_ok=True)
        private_path, public_path = folder / "apiclient_key.pem", folder / "pub_key.pem"
        private_path.write_text(private_pem(self.merchant))
        private_path.chmod(0o600)
        public_path.write_text(public_pem(self.platform))
        return {
            "WECHATPAY_MCHID": self.mchid,
            "WECHATPAY_APPID": self.appid,
            "WECHATPAY_PRIVATE_KEY_PATH": str(private_path),
            "WECHATPAY_CERT_SERIAL_NO": self.cert_serial_no,
            "WECHATPAY_APIV3_KEY": self.apiv3_key,
            "WECHATPAY_PUBLIC_KEY_PATH": str(public_path),
            "WECHATPAY_PUBLIC_KEY_ID": self.public_key_id,
        }


class FakeWechatPay:
    def __init__(self, keys: Keys | None = None, *, delay_seconds: float = 2.0, port: int = 0):
        self.keys = keys or Keys()
        self.delay_seconds = delay_seconds  # how long a "timeout" sleeps; make it longer than the client's timeout
        self.bills: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every authenticated request
        self.rejected_auth = 0
        self.final_state = "SUCCESS"  # what a new bill becomes: SUCCESS, FAIL, or e.g. WAIT_USER_CONFIRM
        self.fail_reason = "PAYEE_ACCOUNT_ABNORMAL"
        self._faults: dict[str, list[str]] = {"create": [], "query": []}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeWechatPay":
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-wechatpay", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, kind: str, *, times: int = 1, route: str = "create") -> None:
        with self._lock:
            self._faults[route].extend([kind] * times)

    def _take_fault(self, route: str) -> str | None:
        with self._lock:
            return self._faults[route].pop(0) if self._faults[route] else None

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    @property
    def creates(self) -> int:
        return self.count("POST", TRANSFER_PATH)

    @property
    def queries(self) -> int:
        return self.count("GET", TRANSFER_PATH + "/out-bill-no/")

    def finish(self, out_bill_no: str, state: str, fail_reason: str = "") -> dict:
        """WeChat moves a bill on (e.g. the user confirmed): returns the bill."""
        with self._lock:
            bill = self.bills[out_bill_no]
            bill["state"] = state
            bill["update_time"] = _now_iso()
            if state == "FAIL":
                bill["fail_reason"] = fail_reason or self.fail_reason
            return dict(bill)

    # --- notifications ---------------------------------------------------------------------------------------------
    def notification(self, out_bill_no: str, *, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
        """(headers, body) of a genuine transfer-bill notification for the bill as it is now."""
        bill = dict(self.bills[out_bill_no])
        resource = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "mch_id", "transfer_amount")}
        resource.update(
            openid=bill["openid"], create_time=bill["create_time"], update_time=bill["update_time"] or _now_iso()
        )
        if bill.get("fail_reason"):
            resource["fail_reason"] = bill["fail_reason"]
        nonce = secrets.token_hex(6)  # 12 chars, as WeChat sends
        associated = "mch_payment"
        ciphertext = AESGCM(self.keys.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(resource).encode(), associated.encode()
        )
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": _now_iso(),
                "resource_type": "encrypt-resource",
                "event_type": "MCHTRANSFER.BILL.FINISHED",
                "summary": "商家转账单据终态通知",
                "resource": {
                    "original_type": "mch_payment",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": associated,
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        )
        return self.signed_headers(body, timestamp=timestamp), body.encode()

    def signed_headers(self, body: str, *, timestamp: int | None = None, key=None) -> dict[str, str]:
        stamp, nonce = str(timestamp if timestamp is not None else int(time.time())), uuid.uuid4().hex.upper()
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(key or self.keys.platform, f"{stamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Serial": self.keys.public_key_id,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    # --- the server ------------------------------------------------------------------------------------------------
    def _authorized(self, method: str, path: str, headers, body: str) -> bool:
        auth = headers.get("Authorization", "")
        scheme, _, params = auth.partition(" ")
        fields = dict(AUTH_RE.findall(params))
        if scheme != "WECHATPAY2-SHA256-RSA2048" or fields.get("mchid") != self.keys.mchid:
            return False
        if fields.get("serial_no") != self.keys.cert_serial_no:
            return False
        if headers.get("Wechatpay-Serial") != self.keys.public_key_id:
            return False
        if abs(time.time() - int(fields.get("timestamp", "0") or 0)) > 300:
            return False
        message = f"{method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n"
        try:
            self.keys.merchant.public_key().verify(
                base64.b64decode(fields.get("signature", "")), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def _create(self, data: dict) -> tuple[int, dict]:
        required = ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount", "transfer_remark")
        if any(not data.get(k) for k in required) or not isinstance(data.get("transfer_amount"), int):
            return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
        if data["appid"] != self.keys.appid:
            return 400, {"code": "INVALID_REQUEST", "message": "appid 与 mchid 不匹配"}
        with self._lock:
            existing = self.bills.get(data["out_bill_no"])
            if existing:
                if (existing["transfer_amount"], existing["openid"]) != (data["transfer_amount"], data["openid"]):
                    return 400, {"code": "INVALID_REQUEST", "message": "商户单号重复但参数不一致"}
                bill = existing
            else:
                now = _now_iso()
                bill = {
                    "mch_id": self.keys.mchid,
                    "appid": data["appid"],
                    "out_bill_no": data["out_bill_no"],
                    "transfer_bill_no": f"1330000071100999{len(self.bills) + 1:024d}",
                    "transfer_amount": data["transfer_amount"],
                    "transfer_remark": data["transfer_remark"],
                    "openid": data["openid"],
                    "state": self.final_state,
                    "create_time": now,
                    "update_time": now,
                }
                if self.final_state == "FAIL":
                    bill["fail_reason"] = self.fail_reason
                self.bills[data["out_bill_no"]] = bill
            reply = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "create_time", "state")}
            if bill.get("fail_reason"):
                reply["fail_reason"] = bill["fail_reason"]
            if bill["state"] == "WAIT_USER_CONFIRM":
                # Opaque to the merchant; the real one is longer. Only the create reply carries it, not a query.
                reply["package_info"] = package_info_for(bill["out_bill_no"])
            return 200, reply

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, payload: dict | None, *, bad_signature: bool = False) -> None:
                body = json.dumps(payload, ensure_ascii=False) if payload is not None else ""
                headers = fake.signed_headers(body, key=_new_key() if bad_signature else None)
                raw = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(raw)))
                    self.send_header("Request-ID", uuid.uuid4().hex)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if not fake._authorized(method, self.path, self.headers, body):
                    fake.rejected_auth += 1
                    return self._reply(401, {"code": "SIGN_ERROR", "message": "签名错误"})
                with fake._lock:
                    fake.requests.append((method, self.path))
                if method == "POST" and self.path == TRANSFER_PATH:
                    return self._transfer(json.loads(body or "{}"))
                match = QUERY_RE.match(self.path)
                if method == "GET" and match:
                    return self._query(match.group(1))
                return self._reply(404, {"code": "NOT_FOUND", "message": "no such API"})

            def _transfer(self, data: dict) -> None:
                fault = fake._take_fault("create")
                if fault == "timeout_before_create":
                    time.sleep(fake.delay_seconds)
                    return self._reply(500, {"code": "SYSTEM_ERROR", "message": "too late"})
                if fault == "5xx":
                    return self._reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
                if fault == "reject":
                    return self._reply(400, {"code": "PARAM_ERROR", "message": "openid 不正确"})
                status, payload = fake._create(data)
                if fault == "timeout_after_create":
                    time.sleep(fake.delay_seconds)
                if fault == "5xx_after_create":
                    return self._reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
                return self._reply(status, payload, bad_signature=fault == "bad_signature")

            def _query(self, out_bill_no: str) -> None:
                fault = fake._take_fault("query")
                if fault == "timeout_before_create":
                    time.sleep(fake.delay_seconds)
                if fault in ("5xx", "timeout_before_create"):
                    return self._reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
                with fake._lock:
                    bill = dict(fake.bills[out_bill_no]) if out_bill_no in fake.bills else None
                if bill is None:
                    return self._reply(404, {"code": "NOT_FOUND", "message": "记录不存在"})
                return self._reply(200, bill)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        return Handler


def main() -> None:  # pragma: no cover — demo runs
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("var/wechat-fake"))
    parser.add_argument("--state", default="SUCCESS", help="what new bills become: SUCCESS, FAIL, WAIT_USER_CONFIRM…")
    parser.add_argument("--quiet", action="store_true", help="print nothing (the launcher reads <dir>/env)")
    args = parser.parse_args()
    fake = FakeWechatPay(port=args.port)
    fake.final_state = args.state
    env = fake.keys.write(args.dir)
    env.update(WECHATPAY_GATEWAY=fake.url, WECHATPAY_TEST_OPENID=DEMO_OPENID)
    # Written whole under another name, then renamed: a reader never sees half a file.
    partial = args.dir / "env.partial"
    partial.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    partial.replace(args.dir / "env")
    if not args.quiet:
        print("\n".join(f"export {k}={v}" for k, v in env.items()), flush=True)
    fake.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":  # pragma: no cover
    main()

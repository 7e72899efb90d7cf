"""The launcher behind `make run` / `make test`: which servers it starts, and that it survives a crashed earlier run."""

import os
import shutil
import signal
import socket
import time

import psycopg
import pytest

from config import runstack


def test_only_servers_missing_from_the_environment_are_started():
    assert runstack.services_needed({}) == (True, True)
    assert runstack.services_needed({"DATABASE_URL": "postgres://db/x"}) == (False, True)
    assert runstack.services_needed({"REDIS_URL": "redis://cache:6379/0"}) == (True, False)
    # A separate broker does not replace Redis: the rate-limit cache still needs it.
    assert runstack.services_needed({"CELERY_BROKER_URL": "amqp://guest:guest@mq//"}) == (True, True)


def test_children_get_the_embedded_urls_and_keep_a_configured_broker():
    env = runstack.child_environment(
        {"CELERY_BROKER_URL": "amqp://guest:guest@mq//", "PATH": "/usr/bin"},
        database_url="postgres://postgres@127.0.0.1:1/redpacket",
        redis_url="redis://127.0.0.1:2/0",
    )
    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:1/redpacket"
    assert env["REDIS_URL"] == "redis://127.0.0.1:2/0"
    assert env["CELERY_BROKER_URL"] == "amqp://guest:guest@mq//"
    assert env["PATH"].endswith(os.pathsep + "/usr/bin")


def test_broker_defaults_to_redis():
    env = runstack.child_environment({}, database_url=None, redis_url="redis://127.0.0.1:2/0")
    assert env["CELERY_BROKER_URL"] == "redis://127.0.0.1:2/0"


def test_passwords_are_hidden_when_urls_are_printed():
    assert runstack.redact("amqp://guest:secret@mq:5672//") == "amqp://guest:***@mq:5672//"
    assert runstack.redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_demo_logins_are_one_constant_the_banner_prints(capsys):
    runstack.print_banner(8123)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/" in out
    for _role, login, password in runstack.DEMO_LOGINS:
        assert login in out
        assert password in out


@pytest.fixture
def scratch():
    path = runstack.TMP_DIR / f"pytest-runstack-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def occupied_port():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _kill_hard(pid):
    os.kill(pid, signal.SIGKILL)
    assert runstack.wait_gone(pid, 10)


def test_redis_left_running_by_a_killed_launcher_is_replaced_and_stop_leaves_nothing(scratch, occupied_port):
    first = runstack.EmbeddedRedis(scratch / "redis")
    first.start()
    orphan = runstack.read_pid(first.pidfile)
    assert runstack.redis_ping(first.port)

    # A new launcher on the same folder (the first one "crashed"), whose preferred port is taken.
    second = runstack.EmbeddedRedis(scratch / "redis", preferred_port=occupied_port)
    second.start()
    try:
        assert not runstack.pid_alive(orphan)
        assert second.port != occupied_port
        assert runstack.redis_ping(second.port)
    finally:
        pid = runstack.read_pid(second.pidfile)
        second.stop()
    assert not runstack.pid_alive(pid)
    assert not runstack.redis_ping(second.port)


def test_postgres_starts_after_a_crash_left_a_stale_pid_file_and_its_port_is_taken(scratch, occupied_port):
    pg = runstack.EmbeddedPostgres(scratch / "pg", durable=False)
    pg.start()
    postmaster = runstack.read_pid(pg.pgdata / "postmaster.pid")
    _kill_hard(postmaster)  # a crash: the postmaster is gone (its children notice and exit), postmaster.pid stays
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "postgres" in runstack.process_name(postmaster):
        time.sleep(0.1)
    assert (pg.pgdata / "postmaster.pid").exists()

    again = runstack.EmbeddedPostgres(scratch / "pg", preferred_port=occupied_port, durable=False)
    try:
        again.start()
        assert again.port != occupied_port
        with psycopg.connect(again.url.replace("postgres://", "postgresql://")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (runstack.DB_NAME,)
    finally:
        pid = runstack.read_pid(again.pgdata / "postmaster.pid")
        again.stop()
    assert pid is not None
    assert not runstack.pid_alive(pid)


def test_demo_mode_is_when_no_wechat_merchant_is_configured(capsys):
    assert runstack.wechat_fake_needed({})
    assert not runstack.wechat_fake_needed({"WECHATPAY_MCHID": "1900000109"})
    assert not runstack.wechat_fake_needed({"WECHATPAY_FAKE": "0"})
    runstack.print_banner(8123, wechat_fake="http://127.0.0.1:5555")
    assert "fake WeChat Pay at http://127.0.0.1:5555" in capsys.readouterr().out


def test_the_fake_wechat_pay_child_serves_signed_transfers_and_stops_with_the_others(scratch):
    """What `make run` does in demo mode: the fake starts as a child, the payout client (the real wechatpayv3, built
    from the settings it exports) gets a bill from it, and stopping the children stops it."""
    from pathlib import Path

    from wechatpayv3 import WeChatPay, WeChatPayType

    env = runstack.child_environment({**os.environ}, database_url=None, redis_url=None)
    proc, values = runstack.start_wechat_fake(env, scratch / "wechat-fake")
    try:
        gateway = values["WECHATPAY_GATEWAY"]
        assert gateway.startswith("http://127.0.0.1:") and values["WECHATPAY_TEST_OPENID"]
        client = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=values["WECHATPAY_MCHID"],
            private_key=Path(values["WECHATPAY_PRIVATE_KEY_PATH"]).read_text(),
            cert_serial_no=values["WECHATPAY_CERT_SERIAL_NO"],
            appid=values["WECHATPAY_APPID"],
            apiv3_key=values["WECHATPAY_APIV3_KEY"],
            public_key=Path(values["WECHATPAY_PUBLIC_KEY_PATH"]).read_text(),
            public_key_id=values["WECHATPAY_PUBLIC_KEY_ID"],
            timeout=5,
        )
        client._core._gate_way = gateway
        status, text = client.mch_transfer_bills(
            out_bill_no="RP00000000000000000001",
            transfer_scene_id="1000",
            openid=values["WECHATPAY_TEST_OPENID"],
            transfer_amount=100,
            transfer_remark="demo",
        )
        assert status == 200 and '"SUCCESS"' in text
    finally:
        runstack.stop_children([("fake WeChat Pay", proc)])
    assert proc.returncode is not None
    port = int(gateway.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

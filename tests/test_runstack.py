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

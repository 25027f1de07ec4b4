"""A PostgreSQL store for tests, when ``NAVBILL_TEST_POSTGRES_URL`` names a server (``.ci/run`` starts one).

Each test gets a schema of its own (``navbill_t_<random>``, dropped afterwards) on that server: the URL it is
given sets ``search_path`` to it, so the store's tables, the vault's and the push state's all land there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

ENV = "NAVBILL_TEST_POSTGRES_URL"
SKIP_REASON = (f"no PostgreSQL server for the tests: set {ENV} (.ci/run starts a throwaway one with "
               ".ci/postgres.sh)")


def server_url() -> str:
    url = os.environ.get(ENV, "")
    if not url:
        pytest.skip(SKIP_REASON)
    return url


def schema_url(url: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, empty schema on the test server; yields a store URL that uses it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    url = server_url()
    schema = f"navbill_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema_url(url, schema)
    finally:
        with admin.begin() as connection:  # the test's own connections are closed by now
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

"""Accounts on a real store (SQLite and PostgreSQL), time driven by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from corral.auth.accounts import Accounts
from corral.auth.authenticator import HubAuthenticator
from corral.auth.sessions import SessionSigner
from corral.auth.store import AuthStore
from corral.clock import ManualClock
from corral.db.engine import Database, open_database
from corral.db.migrate import upgrade

SIGNING_KEY = "k" * 48
LOGIN_LIFETIME_S = 600.0


@dataclass
class AuthWorld:
    database: Database
    clock: ManualClock
    accounts: Accounts
    authenticator: HubAuthenticator


@pytest.fixture
async def world(store_url: str) -> AsyncIterator[AuthWorld]:
    database = open_database(store_url)
    await upgrade(database)
    clock = ManualClock()
    accounts = Accounts(AuthStore(database), SessionSigner(SIGNING_KEY, LOGIN_LIFETIME_S, clock), clock)
    try:
        yield AuthWorld(
            database, clock, accounts, HubAuthenticator(accounts, clock, admin_token="corral_boot")
        )
    finally:
        await database.close()

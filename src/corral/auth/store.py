"""The ``users`` and ``api_tokens`` tables and their queries.

Passwords are stored as argon2 hashes and tokens as SHA-256 digests; neither
ever reaches this module in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from corral.auth.models import ApiToken, User
from corral.auth.principal import Role
from corral.db.base import Base, UTCDateTime
from corral.db.engine import Database
from corral.errors import Conflict, NotFound


class UserRow(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def value(self) -> User:
        return User(self.name, Role(self.role), self.created_at, self.updated_at, self.session_version)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("users.name", ondelete="CASCADE"), nullable=True, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def value(self) -> ApiToken:
        return ApiToken(
            self.id,
            self.name,
            Role(self.role),
            self.owner,
            self.created_at,
            self.expires_at,
            self.revoked_at,
        )


class AuthStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- users --------------------------------------------------------------------------------

    async def add_user(self, user: User, password_hash: str) -> None:
        """Raises: Conflict when the name is taken."""
        row = UserRow(
            name=user.name,
            role=user.role.value,
            password_hash=password_hash,
            session_version=user.session_version,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )
        try:
            async with self._db.write() as session:
                if await session.get(UserRow, user.name) is not None:
                    raise Conflict(f"user {user.name!r} already exists")
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"user {user.name!r} already exists") from exc

    async def users(
        self, *, role: Role | None = None, after: str | None = None, limit: int | None = None
    ) -> list[User]:
        """By name: those (with ``role``) after ``after``, at most ``limit``."""
        query = select(UserRow).order_by(UserRow.name).limit(limit)
        if role is not None:
            query = query.where(UserRow.role == role.value)
        if after is not None:
            query = query.where(UserRow.name > after)
        async with self._db.sessions() as session:
            return [row.value() for row in await session.scalars(query)]

    async def user(self, name: str) -> User | None:
        async with self._db.sessions() as session:
            row = await session.get(UserRow, name)
            return row.value() if row is not None else None

    async def password_hash(self, name: str) -> tuple[User, str] | None:
        async with self._db.sessions() as session:
            row = await session.get(UserRow, name)
            return (row.value(), row.password_hash) if row is not None else None

    async def update_user(
        self,
        name: str,
        now: datetime,
        *,
        role: Role | None = None,
        password_hash: str | None = None,
    ) -> User:
        """Change a user's role and/or password; a new password ends its login sessions.

        Raises: NotFound.
        """
        async with self._db.write() as session:
            row = await session.get(UserRow, name, with_for_update=True)
            if row is None:
                raise NotFound(f"no user named {name!r}")
            if role is not None:
                row.role = role.value
            if password_hash is not None:
                row.password_hash = password_hash
                row.session_version += 1
            row.updated_at = now
            return row.value()

    async def remove_user(self, name: str) -> None:
        """Remove a user and every token it owns. Raises: NotFound."""
        async with self._db.write() as session:
            await session.execute(delete(ApiTokenRow).where(ApiTokenRow.owner == name))
            result = await session.execute(delete(UserRow).where(UserRow.name == name))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"no user named {name!r}")

    # -- tokens -------------------------------------------------------------------------------

    async def add_token(self, token: ApiToken, token_hash: str) -> None:
        async with self._db.write() as session:
            session.add(
                ApiTokenRow(
                    id=token.id,
                    name=token.name,
                    role=token.role.value,
                    owner=token.owner,
                    token_hash=token_hash,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    revoked_at=token.revoked_at,
                )
            )

    async def tokens(
        self,
        *,
        owner: str | None,
        every_owner: bool = False,
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
    ) -> list[ApiToken]:
        """Oldest first; ``after`` is the (created_at, id) of the last token of the previous page."""
        query = select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.id).limit(limit)
        if not every_owner:
            query = query.where(ApiTokenRow.owner.is_(None) if owner is None else ApiTokenRow.owner == owner)
        if after is not None:
            created_at, token_id = after
            query = query.where(
                (ApiTokenRow.created_at > created_at)
                | ((ApiTokenRow.created_at == created_at) & (ApiTokenRow.id > token_id))
            )
        async with self._db.sessions() as session:
            return [row.value() for row in await session.scalars(query)]

    async def token(self, token_id: str) -> ApiToken | None:
        async with self._db.sessions() as session:
            row = await session.get(ApiTokenRow, token_id)
            return row.value() if row is not None else None

    async def revoke_token(self, token_id: str, now: datetime) -> ApiToken:
        """Mark a token revoked (a second revocation keeps the first time). Raises: NotFound."""
        async with self._db.write() as session:
            await session.execute(
                update(ApiTokenRow)
                .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = await session.get(ApiTokenRow, token_id, populate_existing=True)
            if row is None:
                raise NotFound(f"no token with id {token_id!r}")
            return row.value()

    async def token_by_hash(self, token_hash: str) -> tuple[ApiToken, Role | None] | None:
        """The token with this digest and its owner's current role (None for the bootstrap admin's)."""
        query = (
            select(ApiTokenRow, UserRow.role)
            .outerjoin(UserRow, UserRow.name == ApiTokenRow.owner)
            .where(ApiTokenRow.token_hash == token_hash)
        )
        async with self._db.sessions() as session:
            found = (await session.execute(query)).first()
        if found is None:
            return None
        row, owner_role = found
        return row.value(), (Role(owner_role) if owner_role is not None else None)

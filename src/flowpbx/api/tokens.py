"""/api/v1/tokens: API tokens for scripts (`Authorization: Bearer TOKEN`); never expire,
revoked explicitly. Only the SHA-256 of a token is stored: it is shown once, at creation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from flowpbx.api.deps import StoreDep, UserDep
from flowpbx.api.errors import not_found
from flowpbx.store.errors import NotFoundError
from flowpbx.store.repos import users as users_repo

router = APIRouter(prefix="/api/v1/tokens", tags=["auth"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "backup"}]})
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: dt.datetime


class NewTokenOut(TokenOut):
    token: str


@router.get("", response_model=list[TokenOut])
async def list_tokens(store: StoreDep, user: UserDep) -> list[TokenOut]:
    async with store.sessions() as s:
        return [
            TokenOut(id=t.id, name=t.name, created_at=t.created_at)
            for t in await users_repo.list_api_tokens(s, user.id)
        ]


@router.post("", response_model=NewTokenOut, status_code=201)
async def create_token(body: TokenIn, store: StoreDep, user: UserDep) -> NewTokenOut:
    async with store.transaction() as s:
        rec, token = await users_repo.issue_api_token(
            s, user.id, body.name, dt.datetime.now(dt.UTC)
        )
    return NewTokenOut(id=rec.id, name=rec.name, created_at=rec.created_at, token=token)


@router.delete("/{token_id}", status_code=204, responses={404: {}})
async def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)], store: StoreDep, user: UserDep
) -> Response:
    try:
        async with store.transaction() as s:
            await users_repo.revoke_api_token(s, user.id, token_id)
    except NotFoundError as exc:
        raise not_found("token", str(token_id)) from exc
    return Response(status_code=204)

"""API for organisations, users, role grants and tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dho.accounts import service
from dho.accounts.permissions import Principal
from dho.accounts.schemas import (
    GrantIn,
    GrantOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from dho.errors import Unauthenticated
from dho.web.deps import current_principal, db_session
from dho.web.params import Id, Offset

router = APIRouter(tags=["accounts"])
Text = Annotated[str | None, Query(max_length=100)]


class OrganisationPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[OrganisationOut]


class UserPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[UserOut]


# Bodies are read as plain JSON values and validated by the service with the strict models, so a
# wrong type, an unknown field or a missing field gets the same problem+json answer everywhere.
JsonBody = Annotated[Any, Body()]


@router.get("/organisations", response_model=OrganisationPage, summary="Search organisations")
def organisations(
    q: Text = None, country: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0,
    session: Session = db_session,
) -> OrganisationPage:
    rows, total = service.search_organisations(session, q=q, country=country, kind=kind, limit=limit, offset=offset)
    return OrganisationPage(total=total, limit=limit, offset=offset,
                            items=[OrganisationOut.model_validate(o) for o in rows])


@router.get("/organisations/{org_id}", response_model=OrganisationOut, summary="One organisation")
def organisation(org_id: Id, session: Session = db_session) -> Any:
    return service.get_organisation(session, org_id)


@router.post("/organisations", response_model=OrganisationOut, status_code=201, summary="Add an organisation",
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": OrganisationIn.model_json_schema()}}}})
def organisation_create(body: JsonBody, session: Session = db_session,
                        principal: Principal = current_principal) -> Any:
    return service.create_organisation(session, principal, body)


@router.patch("/organisations/{org_id}", response_model=OrganisationOut, summary="Change an organisation",
              openapi_extra={"requestBody": {"content": {"application/json": {
                  "schema": OrganisationPatch.model_json_schema()}}}})
def organisation_update(org_id: Id, body: JsonBody, session: Session = db_session,
                        principal: Principal = current_principal) -> Any:
    return service.update_organisation(session, principal, org_id, body)


@router.delete("/organisations/{org_id}", status_code=204, summary="Delete an unused organisation")
def organisation_delete(org_id: Id, session: Session = db_session,
                        principal: Principal = current_principal) -> Response:
    service.delete_organisation(session, principal, org_id)
    return Response(status_code=204)


@router.get("/users", response_model=UserPage, summary="List users (administrators, Secretariat)")
def users(q: Text = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
          offset: Offset = 0, session: Session = db_session,
          principal: Principal = current_principal) -> UserPage:
    rows, total = service.list_users(session, principal, q=q, limit=limit, offset=offset)
    return UserPage(total=total, limit=limit, offset=offset, items=[UserOut.model_validate(u) for u in rows])


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user (administrators)",
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": UserIn.model_json_schema()}}}})
def user_create(body: JsonBody, session: Session = db_session, principal: Principal = current_principal) -> Any:
    return service.create_user(session, principal, body)


@router.post("/users/{user_id}/grants", response_model=GrantOut, status_code=201, summary="Grant a role",
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": GrantIn.model_json_schema()}}}})
def grant_create(user_id: Id, body: JsonBody, session: Session = db_session,
                 principal: Principal = current_principal) -> Any:
    return service.grant_role(session, principal, user_id, body)


@router.delete("/grants/{grant_id}", status_code=204, summary="Revoke a role")
def grant_delete(grant_id: Id, session: Session = db_session, principal: Principal = current_principal) -> Response:
    service.revoke_role(session, principal, grant_id)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut], summary="Your API tokens")
def tokens(session: Session = db_session, principal: Principal = current_principal) -> Any:
    if principal.user_id is None:
        raise Unauthenticated("No credentials were sent.")
    return service.list_tokens(session, principal, principal.user_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Create a token for yourself",
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": TokenIn.model_json_schema()}}}})
def token_create(body: JsonBody, session: Session = db_session, principal: Principal = current_principal) -> Any:
    if principal.user_id is None:
        raise Unauthenticated("No credentials were sent.")
    token, secret = service.create_token(session, principal, body)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def token_delete(token_id: Id, session: Session = db_session, principal: Principal = current_principal) -> Response:
    service.revoke_token(session, principal, token_id)
    return Response(status_code=204)

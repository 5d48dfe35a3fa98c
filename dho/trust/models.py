"""Trust network tables: participants and their anchor-signed certificates, document signers (DSC),
revocation batches, business rules, and the signed DID documents the web process serves.

Binary values (DER certificates, kids, revocation hashes) are stored as bytes; the signed messages
(CMS) are kept exactly as uploaded (base64 text), so that anyone can re-check them later. Document
signers and revocation batches are never removed, only marked deleted, so that trust lists and delta
downloads can say that something is gone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dho.db import Base, UTCDateTime, utcnow

DEFAULT_DOMAIN = "DCC"
GROUPS = ("TLS", "UP", "SCA")
# How each group (and the document signers) is called in the gateway's trust list layout.
CERTIFICATE_TYPES = {"DSC": "DSC", "UP": "UPLOAD", "SCA": "CSCA", "TLS": "AUTHENTICATION"}


class Participant(Base):
    """A country or jurisdiction taking part in one trust domain (DCC, DDCC...)."""

    __tablename__ = "trust_participant"
    __table_args__ = (UniqueConstraint("domain", "country"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(32), default=DEFAULT_DOMAIN)
    country: Mapped[str] = mapped_column(String(3), index=True)  # ISO 3166 alpha-2 for DCC
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ParticipantCertificate(Base):
    """A TLS client, upload (UP) or signing certificate authority (SCA) certificate of a participant,
    with the trust anchor's signature of its registration message (see dho.trust.anchor)."""

    __tablename__ = "trust_participant_certificate"
    __table_args__ = (UniqueConstraint("domain", "cert_group", "thumbprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("trust_participant.id"), index=True)
    domain: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(3))
    group: Mapped[str] = mapped_column("cert_group", String(8))
    raw_der: Mapped[bytes] = mapped_column(LargeBinary)
    thumbprint: Mapped[str] = mapped_column(String(64), index=True)
    kid: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    anchor_signature: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignerCertificate(Base):
    """A document signer (DSC) as uploaded: its DER, the CMS its participant's UP certificate signed,
    and ``deleted_at`` once withdrawn (soft delete)."""

    __tablename__ = "trust_signer_certificate"
    __table_args__ = (UniqueConstraint("domain", "kid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("trust_participant.id"), index=True)
    domain: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(3), index=True)
    raw_der: Mapped[bytes] = mapped_column(LargeBinary)
    kid: Mapped[bytes] = mapped_column(LargeBinary)
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)
    uploader_thumbprint: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)  # the upload CMS, base64
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    usages: Mapped[str] = mapped_column(String(3), default="tvr")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delete_signature: Mapped[str | None] = mapped_column(Text)  # the CMS that asked for the deletion
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RevocationBatch(Base):
    """A batch of up to 1000 revoked-certificate hashes, signed by its country's UP certificate."""

    __tablename__ = "trust_revocation_batch"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("trust_participant.id"), index=True)
    domain: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(3), index=True)
    kid: Mapped[bytes | None] = mapped_column(LargeBinary)
    hash_type: Mapped[str] = mapped_column(String(16))
    expires: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    changed: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    signed_cms: Mapped[str] = mapped_column(Text)  # base64
    delete_cms: Mapped[str | None] = mapped_column(Text)
    uploader_thumbprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RevocationEntry(Base):
    """One revoked hash (16 bytes) of a batch. Not audited row by row: the batch row, which is audited,
    carries the signed CMS holding every entry."""

    __tablename__ = "trust_revocation_entry"
    __audited__ = False

    batch_id: Mapped[str] = mapped_column(ForeignKey("trust_revocation_batch.batch_id", ondelete="CASCADE"),
                                          primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)


class BusinessRule(Base):
    """A business rule in the gateway format, as uploaded (raw JSON and the signed CMS)."""

    __tablename__ = "trust_business_rule"
    __table_args__ = (UniqueConstraint("identifier", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("trust_participant.id"), index=True)
    identifier: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(3), index=True)
    rule_type: Mapped[str] = mapped_column(String(16))
    certificate_type: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    raw_json: Mapped[str] = mapped_column(Text)
    signed_cms: Mapped[str] = mapped_column(Text)
    uploader_thumbprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignedDocument(Base):
    """A document signed outside the web process (a DID trust list signed by the anchor key at the
    command line). The API serves the latest row of each path."""

    __tablename__ = "trust_signed_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(200), index=True)
    json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

"""S3 adapter: presigned POST/GET for browsers, HEAD/GET/DELETE for the services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from uuid import UUID

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Matches the lifecycle rule "expire-abandoned-uploads" in template.yaml.
ABANDONED_TAG = ("realtone-state", "abandoned")
# Carried by uploads of zero-retention accounts (set by the presigned POST's policy); matches
# the lifecycle rule "expire-zero-retention-uploads" in template.yaml: the safety net behind
# the scorer and the sweep, which delete such audio as soon as it is scored.
ZERO_RETENTION_TAG = ("realtone-retention", "zero")
_SAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_TAG = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME = 100


def safe_filename(name: str) -> str:
    """A filename that cannot change the S3 key's meaning: no paths, no odd characters."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = _SAFE_CHARS.sub("_", base).strip("._")
    if len(cleaned) > _MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (
            (stem[: _MAX_NAME - len(ext) - 1] + dot + ext)
            if dot and len(ext) <= 10
            else cleaned[:_MAX_NAME]
        )
    return cleaned or "audio"


def owner_prefix(owner_id: UUID) -> str:
    """Where every upload of one account lives."""
    return f"uploads/{owner_id}/"


def upload_key(owner_id: UUID, analysis_id: UUID, filename: str) -> str:
    return f"{owner_prefix(owner_id)}{analysis_id}/{safe_filename(filename)}"


def parse_upload_key(key: str) -> tuple[UUID, UUID] | None:
    """(owner, analysis) from ``uploads/{owner}/{analysis}/{name}``; None for anything else."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "uploads":
        return None
    try:
        return UUID(parts[1]), UUID(parts[2])
    except ValueError:
        return None


def s3_client(region: str, endpoint_url: str | None) -> Any:
    # SigV4 always: with a custom endpoint boto3 would sign presigned POSTs with SigV2.
    # Path style, so a local endpoint needs no per-bucket DNS names.
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str
    content_type: str | None


class ObjectStore:
    def __init__(
        self,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._client = s3_client(region, endpoint_url)
        # URLs handed to browsers must name a host they can reach.
        self._public = (
            s3_client(region, public_endpoint_url)
            if public_endpoint_url and public_endpoint_url != endpoint_url
            else self._client
        )

    def presigned_post(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_in: int,
        tag: tuple[str, str] | None = None,
    ) -> PresignedPost:
        """A browser upload of exactly this key, type and size range; with ``tag``, the
        object is stored with that tag (a ``tagging`` field the policy requires as is)."""
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        fields = {"Content-Type": content_type}
        conditions: list[Any] = [
            {"Content-Type": content_type},
            ["content-length-range", 1, max_bytes],
        ]
        if tag is not None:
            fields["tagging"] = tagging_xml(*tag)
            conditions.append({"tagging": fields["tagging"]})
        post = self._public.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=expires_in,
        )
        return PresignedPost(post["url"], dict(post["fields"]), expires_at, max_bytes)

    def presigned_get(
        self, key: str, expires_in: int, content_type: str, filename: str
    ) -> tuple[str, datetime]:
        """A playback URL whose response type and disposition are pinned (signed): whatever
        the object's stored metadata says, the storage origin answers with this audio type
        as an attachment, never as a page a browser would render."""
        url = self._public.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'attachment; filename="{safe_filename(filename)}"',
            },
            ExpiresIn=expires_in,
        )
        return url, datetime.now(UTC) + timedelta(seconds=expires_in)

    def head(self, key: str) -> ObjectInfo | None:
        try:
            meta = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return ObjectInfo(
            int(meta["ContentLength"]),
            str(meta.get("ETag", "")).strip('"'),
            meta.get("ContentType"),
        )

    def download(self, key: str, out: BinaryIO) -> ObjectInfo | None:
        """Stream the object into ``out``; returns what was read (its size and ETag), or
        None when it does not exist."""
        try:
            obj = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        size = 0
        for block in _iter_body(obj["Body"]):
            out.write(block)
            size += len(block)
        return ObjectInfo(size, str(obj.get("ETag", "")).strip('"'), obj.get("ContentType"))

    def mark_abandoned(self, key: str) -> None:
        """Tag an object nothing refers to; the bucket's lifecycle rule expires it."""
        try:
            self._client.put_object_tagging(
                Bucket=self.bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": ABANDONED_TAG[0], "Value": ABANDONED_TAG[1]}]},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (1,000 per request); returns how many."""
        deleted = 0
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if not keys:
                continue
            answer = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ClientError(
                    {"Error": {"Code": first.get("Code"), "Message": first.get("Message")}},
                    "DeleteObjects",
                )
            deleted += len(keys)
        return deleted

    def check(self) -> None:
        self._client.head_bucket(Bucket=self.bucket)


def tagging_xml(key: str, value: str) -> str:
    """The ``tagging`` form field of an S3 POST upload for one tag (plain names only)."""
    if not all(_SAFE_TAG.fullmatch(part) for part in (key, value)):
        raise ValueError(f"not a plain tag: {key}={value}")
    return f"<Tagging><TagSet><Tag><Key>{key}</Key><Value>{value}</Value></Tag></TagSet></Tagging>"


def _iter_body(body: Any, block_size: int = 1 << 20) -> Iterator[bytes]:
    try:
        while block := body.read(block_size):
            yield block
    finally:
        body.close()

"""The S3 notification carried in each SQS message body, parsed with pydantic.

Only the fields the scorer uses are required, so both AWS's and LocalStack's events parse.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

from realtone_scorer.uploads import S3Object


class _S3Object(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    size: int | None = None
    etag: str | None = Field(default=None, alias="eTag")
    sequencer: str | None = None


class _S3Bucket(BaseModel):
    name: str


class _S3Entity(BaseModel):
    bucket: _S3Bucket
    object: _S3Object


class S3EventRecord(BaseModel):
    event_name: str = Field(alias="eventName")
    s3: _S3Entity

    @property
    def key(self) -> str:
        # Keys arrive URL-encoded ("my+file%21.wav").
        return unquote_plus(self.s3.object.key)

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")


class S3Notification(BaseModel):
    """An S3 event notification; ``s3:TestEvent`` messages have no records."""

    records: list[S3EventRecord] = Field(default_factory=list, alias="Records")
    event: str | None = Field(default=None, alias="Event")

    @property
    def is_test_event(self) -> bool:
        return self.event == "s3:TestEvent"

    def created_objects(self) -> list[S3Object]:
        """The objects this notification says were created, as the scorer takes them."""
        return [
            S3Object(r.s3.bucket.name, r.key, r.s3.object.etag, r.s3.object.size)
            for r in self.records
            if r.is_object_created
        ]

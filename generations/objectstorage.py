"""Videos and thumbnails in an S3 bucket (django-storages), when settings name one.

Browsers fetch the files from the bucket itself, through links the studio presigns for the
members of a team (generations/media.py); the studio reads them only to build a zip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from django.conf import settings
from django.core.files.storage import Storage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

CHUNK = 1024 * 1024


class MediaStorage(S3Storage):
    """django-storages' S3 backend (configured by the AWS_* settings), for any S3-compatible
    service: path-style addressing on the endpoint itself, no custom domain, private objects
    read through presigned links, and files never overwritten (a store that lost its hold
    deletes what it saved, and must not take a newer store's file with it).

    It presigns with one boto3 client for every thread. The backend keeps a connection per
    thread, and making one costs 150-300 ms; under ASGI each request runs in a thread of its
    own, so every video and thumbnail request (a gallery page makes two dozen) would pay
    that. A boto3 client is thread-safe, and signing a link is local work (0.3 ms).
    """

    _signing_client = None
    _signing_lock = threading.Lock()

    def get_default_settings(self) -> dict:
        return {
            **super().get_default_settings(),
            "addressing_style": "path",
            "signature_version": "s3v4",
            "custom_domain": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "default_acl": None,
        }

    def url(self, name: str, parameters: dict | None = None, expire: int | None = None, http_method=None) -> str:
        with self._signing_lock:
            if self._signing_client is None:
                self._signing_client = self._public_client()
        params = {**(parameters or {}), "Bucket": self.bucket_name, "Key": self._normalize_name(clean_name(name))}
        return self._signing_client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expire or self.querystring_expire, HttpMethod=http_method
        )

    def _public_client(self):
        """The client that signs links: the storage's own, or one for the endpoint browsers reach."""
        public = settings.S3_PUBLIC_ENDPOINT_URL
        if not public or public == self.endpoint_url:
            return self.connection.meta.client
        return self._create_session().client(
            "s3", region_name=self.region_name, endpoint_url=public, config=self.client_config, verify=self.verify
        )


def is_object_storage(storage: Storage) -> bool:
    return isinstance(storage, S3Storage)


def read_in_chunks(storage: Storage, name: str) -> Iterator[bytes]:
    """The stored file's bytes as they arrive: from the bucket, one streamed GET (django-
    storages' own file object would first copy the whole object into memory); from the disk,
    the file, read a chunk at a time."""
    if is_object_storage(storage):
        body = storage.bucket.Object(storage._normalize_name(clean_name(name))).get()["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()
        return
    with storage.open(name, "rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk

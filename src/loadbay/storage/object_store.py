"""Objects in S3, Azure Blob or Google Cloud Storage, through obstore.

``s3://bucket/prefix``, ``az://container/prefix`` and ``gs://bucket/prefix``: keys live
under the prefix. Provider options come from the ``[stores.<name>]`` table beside ``url``
(see :data:`OPTIONS`); an option the provider does not know is a ``ValueError`` naming
``stores.<name>.<option>``.

``container`` (what a :class:`~loadbay.storage.base.StoredRef` keeps beside the key) names
the place the keys are relative to, like :class:`~loadbay.storage.local.LocalStore`'s
directory:

- S3: ``bucket[/prefix]`` on AWS; ``host:port/bucket[/prefix]`` with a custom ``endpoint``,
  so that buckets named alike on two S3-compatible servers are different containers. The
  URL scheme of the endpoint is left out: moving a server from http to https keeps refs.
- Azure: ``account/container[/prefix]`` (container names are unique per account only).
- GCS: ``bucket[/prefix]``.

Links: ``obstore.sign`` cannot add response-header overrides to a signed URL, so
``presigned_get`` signs itself (S3 SigV4 query presign with ``response-content-disposition``,
Azure service SAS version 2018-11-09 with ``rscd``) whenever the store holds a static key,
which is what makes the download carry ``Content-Disposition: attachment; filename=...``.
Without a static key (S3 credentials from the environment) it falls back to ``obstore.sign``
(no file name); an Azure store with only a SAS token cannot sign and returns ``None``. GCS
uses ``obstore.sign`` (V4 signed URL, no file name; not tested here).

Metadata and tags: user metadata goes out with the write as obstore attributes (any
attribute key that is not a standard header becomes ``x-amz-meta-*`` on S3,
``x-ms-meta-*`` on Azure, custom metadata on GCS) and comes back from a HEAD request
(``obstore.get(..., head=True)``), minus the standard attributes. Tags are S3 object
tagging through boto3 (``put_object_tagging``/``get_object_tagging`` on the full key) and
Azure blob index tags through azure-storage-blob (``set_blob_tags``/``get_blob_tags``,
which Azurite implements); GCS has no object tags (``UnsupportedOperation``). An
S3-compatible server without object tagging cannot be detected (``rclone serve s3``
answers PutObjectTagging by overwriting the object with the XML body!), so the S3 option
``tagging = false`` makes ``tags``/``set_tags`` raise ``UnsupportedOperation`` instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

import obstore
from obstore.store import AzureStore, GCSStore, S3Store

from loadbay.storage.base import (
    PresignedUpload,
    StoredRef,
    UnsupportedOperation,
    byte_range,
    check_metadata,
    check_tags,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from obstore import Attributes, BytesStream, GetOptions, WritableFile
    from obstore.store import ClientConfig

READ_CHUNK = 1024 * 1024
"""Bytes obstore hands over per chunk when streaming a GET."""
WRITE_PART = 5 * 1024 * 1024
"""Multipart part size (S3's minimum). A write holds at most about
``WRITE_PART * (1 + WRITE_CONCURRENCY)`` bytes in memory."""
WRITE_CONCURRENCY = 4
S3_MAX_EXPIRY = timedelta(days=7)

EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
EMULATOR_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"

_STRING = str
_BOOL = bool
OPTIONS: dict[str, dict[str, type]] = {
    "s3": {
        "endpoint": _STRING,
        "region": _STRING,
        "access_key_id": _STRING,
        "secret_access_key": _STRING,
        "session_token": _STRING,
        "allow_http": _BOOL,
        "virtual_hosted_style_request": _BOOL,
        "tagging": _BOOL,
        "ranged_reads": _BOOL,
    },
    "az": {
        "endpoint": _STRING,
        "account_name": _STRING,
        "account_key": _STRING,
        "sas_token": _STRING,
        "connection_string": _STRING,
        "use_emulator": _BOOL,
        "allow_http": _BOOL,
    },
    "gs": {
        "service_account_path": _STRING,
        "service_account_key": _STRING,
        "allow_http": _BOOL,
    },
}
"""The provider options each scheme accepts, with their TOML types."""

STANDARD_ATTRIBUTES = frozenset(
    {
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-type",
        "cache-control",
        "storage-class",
    }
)
"""obstore attributes that are HTTP headers, not user metadata."""


def _check_options(name: str, scheme: str, options: Mapping[str, Any]) -> dict[str, Any]:
    allowed = OPTIONS[scheme]
    checked: dict[str, Any] = {}
    for option, value in options.items():
        if option == "url":
            continue
        if option not in allowed:
            raise ValueError(
                f"stores.{name}.{option}: unknown option for {scheme}:// stores "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if not isinstance(value, allowed[option]):
            raise ValueError(
                f"stores.{name}.{option}: expected {allowed[option].__name__}, got {value!r}"
            )
        checked[option] = value
    return checked


def _check_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(p in ("..", ".", "") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    if key.endswith("/"):
        raise ValueError(f"invalid object key {key!r}")
    return key


def content_disposition(file_name: str) -> str:
    """``attachment; filename="..."`` (plus RFC 6266 ``filename*`` for non-ASCII names)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in file_name)
    value = f'attachment; filename="{fallback}"'
    if fallback != file_name:
        value += f"; filename*=UTF-8''{quote(file_name, safe='')}"
    return value


def _expires_in(expires_at: datetime) -> timedelta:
    now = datetime.now(UTC)
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    seconds = math.ceil((expires_at - now).total_seconds())
    if seconds < 1:
        raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
    return timedelta(seconds=seconds)


def _aws_quote(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def presign_s3_get(
    *,
    base_url: str,
    path: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    expires_in: timedelta,
    query: Mapping[str, str],
    now: datetime | None = None,
) -> str:
    """A SigV4 query-string presigned GET (``UNSIGNED-PAYLOAD``, only ``host`` signed).

    ``base_url`` is scheme://host[:port][/bucket]; ``path`` the object key below it."""
    moment = now or datetime.now(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    scope = f"{day}/{region}/s3/aws4_request"
    parts = urlsplit(base_url)
    canonical_path = _aws_quote(f"{parts.path.rstrip('/')}/{path}", safe="-_.~/")
    params = {
        **query,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key_id}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(int(expires_in.total_seconds())),
        "X-Amz-SignedHeaders": "host",
    }
    if session_token:
        params["X-Amz-Security-Token"] = session_token
    canonical_query = "&".join(
        f"{_aws_quote(k)}={_aws_quote(v)}" for k, v in sorted(params.items())
    )
    canonical_request = "\n".join(
        [
            "GET",
            canonical_path,
            canonical_query,
            f"host:{parts.netloc}",
            "",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _hmac(f"AWS4{secret_access_key}".encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return (
        f"{parts.scheme}://{parts.netloc}{canonical_path}?{canonical_query}"
        f"&X-Amz-Signature={signature}"
    )


SAS_VERSION = "2018-11-09"


def presign_azure_get(
    *,
    endpoint: str,
    account_name: str,
    account_key: str,
    container: str,
    blob: str,
    expires_at: datetime,
    content_disposition: str,
) -> str:
    """A read-only service SAS (version 2018-11-09) for one blob with an ``rscd`` override."""
    expiry = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = {
        "sp": "r",
        "st": "",
        "se": expiry,
        "canonical": f"/blob/{account_name}/{container}/{blob}",
        "si": "",
        "sip": "",
        "spr": "",
        "sv": SAS_VERSION,
        "sr": "b",
        "snapshot": "",
        "rscc": "",
        "rscd": content_disposition,
        "rsce": "",
        "rscl": "",
        "rsct": "",
    }
    string_to_sign = "\n".join(fields.values())
    digest = hmac.new(
        base64.b64decode(account_key), string_to_sign.encode("utf-8"), hashlib.sha256
    ).digest()
    query = urlencode(
        {
            "sv": SAS_VERSION,
            "sr": "b",
            "sp": "r",
            "se": expiry,
            "rscd": content_disposition,
            "sig": base64.b64encode(digest).decode("ascii"),
        },
        quote_via=quote,
    )
    return f"{endpoint.rstrip('/')}/{quote(container)}/{quote(blob, safe='/')}?{query}"


def parse_connection_string(name: str, value: str) -> dict[str, str]:
    """The account, key, blob endpoint and SAS of an Azure connection string."""
    fields: dict[str, str] = {}
    for item in value.split(";"):
        if not item.strip():
            continue
        field, sep, content = item.partition("=")
        if not sep:
            raise ValueError(f"stores.{name}.connection_string: malformed item {field!r}")
        fields[field.strip()] = content.strip()
    if fields.get("UseDevelopmentStorage", "").lower() == "true":
        return {
            "account_name": EMULATOR_ACCOUNT,
            "account_key": EMULATOR_KEY,
            "endpoint": fields.get("DevelopmentStorageProxyUri", EMULATOR_ENDPOINT),
        }
    result: dict[str, str] = {}
    if "AccountName" in fields:
        result["account_name"] = fields["AccountName"]
    if "AccountKey" in fields:
        result["account_key"] = fields["AccountKey"]
    if "SharedAccessSignature" in fields:
        result["sas_token"] = fields["SharedAccessSignature"]
    if "BlobEndpoint" in fields:
        result["endpoint"] = fields["BlobEndpoint"]
    elif "account_name" in result:
        protocol = fields.get("DefaultEndpointsProtocol", "https")
        suffix = fields.get("EndpointSuffix", "core.windows.net")
        result["endpoint"] = f"{protocol}://{result['account_name']}.blob.{suffix}"
    return result


def _raise_if_missing(error: Exception, key: str) -> None:
    """``FileNotFoundError`` for a boto3 error that says the object does not exist."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    if code in ("NoSuchKey", "NotFound", "404"):
        raise FileNotFoundError(key) from error


class _StreamReader(io.RawIOBase):
    """A raw binary stream over the chunks of one GET (one request, no ranges)."""

    def __init__(self, chunks: BytesStream) -> None:
        self._chunks: BytesStream | None = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending:
            if self._chunks is None:
                return 0
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                self._chunks = None
                return 0
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        self._chunks = None
        self._pending = memoryview(b"")
        super().close()


class _Writer:
    def __init__(self, handle: WritableFile) -> None:
        self._handle = handle
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        self.bytes_written += written
        return written


class ObjectStore:
    """One bucket/container (and prefix) of S3, Azure Blob or GCS: see the module docs."""

    storage: str
    container: str

    def __init__(self, name: str, url: str, options: Mapping[str, Any]) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in OPTIONS:
            raise ValueError(f"stores.{name}.url: not an s3://, az:// or gs:// URL: {url!r}")
        bucket = parts.netloc
        if not bucket:
            raise ValueError(f"stores.{name}.url: no bucket/container in {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"stores.{name}.url: no query or fragment allowed in {url!r}")
        self.prefix = parts.path.strip("/")
        checked = _check_options(name, scheme, options)
        self.storage = scheme
        self.bucket = bucket
        self._name = name
        self._signing: dict[str, Any] = {}
        self._s3_client_options: dict[str, Any] = {}
        self._azure_client_options: dict[str, Any] = {}
        self._tag_client: Any = None
        # A server that answers a ranged GET with the whole object (rclone serve s3) is
        # read from the start and the bytes before the range dropped: ranged_reads = false.
        self._ranged_reads = bool(checked.pop("ranged_reads", True))
        self.supports_tags = scheme == "az" or (
            scheme == "s3" and bool(checked.get("tagging", True))
        )
        prefix = self.prefix or None
        self._store: S3Store | AzureStore | GCSStore
        if scheme == "s3":
            self._store, where = self._open_s3(bucket, prefix, checked)
        elif scheme == "az":
            self._store, where = self._open_azure(bucket, prefix, checked)
        else:
            client: ClientConfig = {}
            if "allow_http" in checked:
                client["allow_http"] = checked.pop("allow_http")
            self._store = GCSStore(bucket, prefix=prefix, client_options=client, **checked)
            where = bucket
        self.container = f"{where}/{self.prefix}" if self.prefix else where

    def _open_s3(
        self, bucket: str, prefix: str | None, options: dict[str, Any]
    ) -> tuple[S3Store, str]:
        region = options.get("region", "us-east-1")
        endpoint = options.get("endpoint")
        virtual = options.get("virtual_hosted_style_request", False)
        client: ClientConfig = {}
        if "allow_http" in options:
            client["allow_http"] = options["allow_http"]
        store = S3Store(
            bucket,
            prefix=prefix,
            region=region,
            virtual_hosted_style_request=virtual,
            client_options=client,
            **{
                k: options[k]
                for k in ("endpoint", "access_key_id", "secret_access_key", "session_token")
                if k in options
            },
        )
        if endpoint:
            host = urlsplit(endpoint).netloc or endpoint
            where = f"{host}/{bucket}"
            # A virtual-hosted endpoint already names the bucket (as obstore assumes).
            base_url = endpoint.rstrip("/") if virtual else f"{endpoint.rstrip('/')}/{bucket}"
        else:
            where = bucket
            base_url = (
                f"https://{bucket}.s3.{region}.amazonaws.com"
                if virtual
                else f"https://s3.{region}.amazonaws.com/{bucket}"
            )
        if "access_key_id" in options and "secret_access_key" in options:
            self._signing = {
                "base_url": base_url,
                "region": region,
                "access_key_id": options["access_key_id"],
                "secret_access_key": options["secret_access_key"],
                "session_token": options.get("session_token"),
            }
        client_options: dict[str, Any] = {"region_name": region}
        if endpoint:
            client_options["endpoint_url"] = endpoint
        for option, argument in (
            ("access_key_id", "aws_access_key_id"),
            ("secret_access_key", "aws_secret_access_key"),
            ("session_token", "aws_session_token"),
        ):
            if option in options:
                client_options[argument] = options[option]
        client_options["addressing_style"] = "virtual" if virtual else "path"
        self._s3_client_options = client_options
        return store, where

    def _open_azure(
        self, container: str, prefix: str | None, options: dict[str, Any]
    ) -> tuple[AzureStore, str]:
        settings: dict[str, Any] = {}
        if "connection_string" in options:
            settings.update(parse_connection_string(self._name, options["connection_string"]))
        if options.get("use_emulator"):
            settings.setdefault("account_name", EMULATOR_ACCOUNT)
            settings.setdefault("account_key", EMULATOR_KEY)
            settings.setdefault("endpoint", EMULATOR_ENDPOINT)
            settings.setdefault("allow_http", True)
        settings.update(
            {k: v for k, v in options.items() if k not in ("connection_string", "use_emulator")}
        )
        account = settings.get("account_name")
        if not account:
            raise ValueError(f"stores.{self._name}.account_name: required for az:// stores")
        endpoint = settings.get("endpoint") or f"https://{account}.blob.core.windows.net"
        allow_http = settings.get("allow_http", endpoint.startswith("http://"))
        config: dict[str, Any] = {"account_name": account, "endpoint": endpoint}
        if "account_key" in settings:
            config["account_key"] = settings["account_key"]
        if "sas_token" in settings:
            config["sas_key"] = settings["sas_token"].lstrip("?")
        # obstore's use_emulator ignores `endpoint` (it reads AZURITE_BLOB_STORAGE_URL), so
        # an emulator is addressed as a plain account at its path-style endpoint instead.
        store = AzureStore(
            container, prefix=prefix, client_options={"allow_http": allow_http}, **config
        )
        if "account_key" in settings:
            self._signing = {
                "endpoint": endpoint,
                "account_name": account,
                "account_key": settings["account_key"],
            }
            credential: Any = {"account_name": account, "account_key": settings["account_key"]}
        elif "sas_token" in settings:
            credential = settings["sas_token"].lstrip("?")
        else:
            credential = None  # the SDK's anonymous access; tags will be refused
        self._azure_client_options = {"account_url": endpoint, "credential": credential}
        return store, f"{account}/{container}"

    def _path(self, key: str) -> str:
        """The object's full name in the bucket (prefix included), for signing."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def ref(self, key: str) -> StoredRef:
        return StoredRef(self.storage, self.container, _check_key(key))

    @contextmanager
    def open_read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[BinaryIO]:
        ranged = (start > 0 or end is not None) and self._ranged_reads
        options: GetOptions = {}
        if ranged:
            # One ranged GET: a worker reading its chunk of a large file fetches only it.
            options["range"] = (start, end) if end is not None else {"offset": start}
        if end is not None and end <= start:
            yield io.BytesIO(b"")
            return
        try:
            result = obstore.get(self._store, _check_key(key), options=options)
        except FileNotFoundError:
            raise
        except Exception:
            # A range that starts at (or past) the end is empty, which providers answer
            # 416: check the size only then, so the usual read costs one request.
            if ranged and start >= self.size(key):
                yield io.BytesIO(b"")
                return
            raise
        raw = _StreamReader(result.stream(min_chunk_size=READ_CHUNK))
        with io.BufferedReader(raw, buffer_size=READ_CHUNK) as reader:
            yield reader if ranged else byte_range(reader, start, end)

    @contextmanager
    def open_write(self, key: str, metadata: Mapping[str, str] | None = None) -> Iterator[_Writer]:
        checked = check_metadata(metadata)
        attributes: Attributes = dict(checked)
        # WritableFile.__exit__ completes the (multipart) upload on a clean exit and
        # aborts it when the block raised: the object appears whole or not at all.
        with obstore.open_writer(
            self._store,
            _check_key(key),
            attributes=attributes or None,
            buffer_size=WRITE_PART,
            max_concurrency=WRITE_CONCURRENCY,
        ) as handle:
            yield _Writer(handle)

    def metadata(self, key: str) -> dict[str, str]:
        result = obstore.get(self._store, _check_key(key), options={"head": True})
        return {
            str(name).lower(): value
            for name, value in result.attributes.items()
            if str(name).lower() not in STANDARD_ATTRIBUTES
        }

    def _require_tags(self) -> None:
        if self.storage == "gs":
            raise UnsupportedOperation("Google Cloud Storage has no object tags")
        if not self.supports_tags:
            raise UnsupportedOperation(
                f"stores.{self._name}: tagging = false (the S3 server has no object tagging)"
            )

    def _s3_client(self) -> Any:
        if self._tag_client is None:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            options = dict(self._s3_client_options)
            config = Config(
                s3={"addressing_style": options.pop("addressing_style")},
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            self._tag_client = boto3.client("s3", config=config, **options)
        return self._tag_client

    def _blob_client(self, key: str) -> Any:
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError as error:  # pragma: no cover - a dependency of loadbay
            raise UnsupportedOperation(
                f"Azure blob tags need azure-storage-blob (pip install azure-storage-blob): {error}"
            ) from error
        if self._tag_client is None:
            self._tag_client = BlobServiceClient(**self._azure_client_options)
        return self._tag_client.get_blob_client(self.bucket, self._path(key))

    def tags(self, key: str) -> dict[str, str]:
        self._require_tags()
        path = self._path(_check_key(key))
        if self.storage == "s3":
            client = self._s3_client()
            try:
                answer = client.get_object_tagging(Bucket=self.bucket, Key=path)
            except Exception as error:
                _raise_if_missing(error, key)
                raise
            return {str(tag["Key"]): str(tag["Value"]) for tag in answer.get("TagSet", [])}
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self._blob_client(key).get_blob_tags()
        except ResourceNotFoundError as error:
            raise FileNotFoundError(key) from error
        return {str(name): str(value) for name, value in found.items()}

    def set_tags(self, key: str, tags: Mapping[str, str]) -> None:
        checked = check_tags(tags)
        self._require_tags()
        path = self._path(_check_key(key))
        if self.storage == "s3":
            client = self._s3_client()
            tag_set = [{"Key": name, "Value": value} for name, value in checked.items()]
            try:
                client.put_object_tagging(Bucket=self.bucket, Key=path, Tagging={"TagSet": tag_set})
            except Exception as error:
                _raise_if_missing(error, key)
                raise
            return
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._blob_client(key).set_blob_tags(checked)
        except ResourceNotFoundError as error:
            raise FileNotFoundError(key) from error

    def size(self, key: str) -> int:
        return int(obstore.head(self._store, _check_key(key))["size"])

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self._store, _check_key(key))
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        with suppress(FileNotFoundError):  # Azure answers 404, S3 204
            obstore.delete(self._store, _check_key(key))

    def presigned_get(self, key: str, expires_at: datetime, file_name: str) -> str | None:
        path = self._path(_check_key(key))
        expires_in = _expires_in(expires_at)
        disposition = content_disposition(file_name)
        if self.storage == "s3" and self._signing:
            if expires_in > S3_MAX_EXPIRY:
                raise ValueError("S3 presigned URLs expire within 7 days")
            return presign_s3_get(
                path=path,
                expires_in=expires_in,
                query={"response-content-disposition": disposition},
                **self._signing,
            )
        if self.storage == "az":
            if not self._signing:
                return None  # a SAS token cannot make other SAS tokens
            return presign_azure_get(
                container=self.bucket,
                blob=path,
                expires_at=datetime.now(UTC) + expires_in,
                content_disposition=disposition,
                **self._signing,
            )
        assert isinstance(self._store, S3Store | GCSStore)
        return obstore.sign(self._store, "GET", key, expires_in)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for batch in obstore.list(self._store, prefix=prefix or None, chunk_size=1000):
            for meta in batch:
                yield str(meta["path"])

    def presigned_put(self, key: str, expires_at: datetime) -> PresignedUpload | None:
        expires_in = _expires_in(expires_at)
        if self.storage == "az" and not self._signing:
            return None  # a SAS token cannot make other SAS tokens
        url = obstore.sign(self._store, "PUT", _check_key(key), expires_in)
        # Azure's Put Blob needs the blob type; S3 and GCS take a plain PUT.
        headers = {"x-ms-blob-type": "BlockBlob"} if self.storage == "az" else {}
        return PresignedUpload(url, "PUT", headers)

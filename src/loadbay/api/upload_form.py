"""Streams a ``multipart/form-data`` upload straight into an :class:`Upload`.

Starlette's form parser would first copy the whole file to a temporary file; this
reader hands each chunk of the ``file`` part to the store as it arrives, so the
size limit is enforced while streaming and nothing is held whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from anyio import to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from loadbay.domain.errors import Unprocessable
from loadbay.services.imports import Upload

_MAX_FIELD_BYTES = 4096


@dataclass
class _Part:
    name: str = ""
    file_name: str | None = None
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


@dataclass
class ReceivedForm:
    fields: dict[str, str]
    file_name: str | None
    had_file: bool


class _FormParser:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.file_name: str | None = None
        self.had_file = False
        self.pending: list[bytes] = []
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def on_part_begin(self) -> None:
        self._part = _Part()
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._part.name == "file":
            if self.had_file:
                raise Unprocessable("Send exactly one file per import", code="too_many_files")
            self._part.is_file = True
            self.had_file = True
            raw_name = options.get(b"filename")
            self.file_name = raw_name.decode("utf-8", "replace") if raw_name else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            self.pending.append(data[start:end])
        elif len(self._part.data) + end - start <= _MAX_FIELD_BYTES:
            self._part.data += data[start:end]
        else:
            raise Unprocessable(
                f"The form field {self._part.name!r} is too long", code="invalid_form"
            )

    def on_part_end(self) -> None:
        if not self._part.is_file and self._part.name:
            self.fields[self._part.name] = self._part.data.decode("utf-8", "replace").strip()


def _write_all(upload: Upload, chunks: list[bytes]) -> None:
    for chunk in chunks:
        upload.write(chunk)


async def receive_upload_form(
    content_type: str, stream: AsyncIterator[bytes], upload: Upload
) -> ReceivedForm:
    """Parse the form, writing the ``file`` part into ``upload``; blocking writes run in
    a worker thread so the event loop keeps serving other requests."""
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type == b"application/x-www-form-urlencoded":
        # A form that cannot carry a file: the contract's "no file".
        raise Unprocessable(
            "No file was uploaded: send multipart/form-data with a 'file' field",
            code="empty_file",
        )
    if media_type != b"multipart/form-data" or not boundary:
        raise Unprocessable(
            "Send the upload as multipart/form-data with fields 'file' and 'dataset'",
            code="invalid_form",
        )
    form = _FormParser()
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": form.on_part_begin,
            "on_header_field": form.on_header_field,
            "on_header_value": form.on_header_value,
            "on_header_end": form.on_header_end,
            "on_headers_finished": form.on_headers_finished,
            "on_part_data": form.on_part_data,
            "on_part_end": form.on_part_end,
        },
    )
    receiving = upload.receiving()
    await to_thread.run_sync(receiving.__enter__)
    try:
        async for chunk in stream:
            parser.write(chunk)
            if form.pending:
                chunks, form.pending = form.pending, []
                await to_thread.run_sync(_write_all, upload, chunks)
        parser.finalize()
    except BaseException as error:
        # Leaving with the error discards the partial object.
        await to_thread.run_sync(receiving.__exit__, type(error), error, error.__traceback__)
        if isinstance(error, FormParserError):
            raise Unprocessable(
                f"The multipart form is malformed: {error}", code="invalid_form"
            ) from error
        raise
    await to_thread.run_sync(receiving.__exit__, None, None, None)
    return ReceivedForm(form.fields, form.file_name, form.had_file)

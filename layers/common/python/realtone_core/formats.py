"""Which uploads are audio we accept: declared content types and sniffed containers.

What the client declares only decides whether an upload URL is handed out; the scorer
decides by the bytes (a file's name and Content-Type are never trusted).
"""

from __future__ import annotations

from pathlib import PurePosixPath

# Declared types accepted at upload time. Only the bare type is kept, stored, pinned in the
# upload policy and served back: parameters (``;codecs=opus``, or a smuggled
# ``;charset=utf-8,text/html``) are dropped.
AUDIO_CONTENT_TYPES = frozenset(
    {
        "audio/wav",
        "audio/wave",
        "audio/x-wav",
        "audio/vnd.wave",
        "audio/mpeg",
        "audio/mp3",
        "audio/ogg",
        "audio/opus",
        "audio/vorbis",
        "audio/flac",
        "audio/x-flac",
        "audio/mp4",
        "audio/m4a",
        "audio/x-m4a",
        "audio/aac",
        "audio/webm",
        "video/webm",
        "video/mp4",
    }
)
# Browsers send these for files they cannot type; then the extension decides.
GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
EXTENSION_TYPES = {
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
}
AUDIO_EXTENSIONS = frozenset(EXTENSION_TYPES)
ACCEPTED_DESCRIPTION = "WAV, MP3, OGG (Vorbis/Opus), FLAC, M4A/AAC or WebM/Opus"
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


def main_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def upload_content_type(filename: str, content_type: str) -> str | None:
    """The bare audio type to store and sign for a declared upload, or None when it is not
    one we accept. Anything but printable ASCII (CR/LF above all) is refused outright."""
    if not set(content_type) <= _PRINTABLE:
        return None
    declared = main_type(content_type)
    if declared in AUDIO_CONTENT_TYPES:
        return declared
    if declared in GENERIC_CONTENT_TYPES:
        return EXTENSION_TYPES.get(PurePosixPath(filename.lower()).suffix)
    return None


def is_accepted_upload(filename: str, content_type: str) -> bool:
    return upload_content_type(filename, content_type) is not None


def sniff_container(head: bytes) -> str | None:
    """Name the container from the first bytes, or None when nothing is recognised."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RF64" or head[:4] == b"BW64":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        # An MPEG audio frame sync with a valid layer; ADTS AAC has layer bits 00.
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


# Recognisable files that are not audio we accept: a clear "unsupported" instead of "corrupt".
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"FORM", "AIFF"),
    (b"%PDF", "PDF"),
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"#!AMR", "AMR"),
    (b"\x30\x26\xb2\x75", "WMA/ASF"),
    (b".snd", "AU"),
    (b"caff", "CAF"),
    (b"MThd", "MIDI"),
)


def sniff_other(head: bytes) -> str | None:
    for magic, name in _OTHER_SIGNATURES:
        if head.startswith(magic):
            return name
    return None

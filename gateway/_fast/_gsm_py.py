"""GSM 03.38 / UCS-2 text encoding and SMS segmentation (pure-Python twin of gateway/_fast/_gsm.pyx).

SMPP carries GSM-7 text unpacked, one septet per octet (data_coding 0); the SMSC packs it for the air
interface. A character outside the default alphabet and its extension table switches the WHOLE message to
UCS-2 (data_coding 8, UTF-16-BE, so an emoji is a surrogate pair of two units).

Sizes are in octets of what goes into short_message: GSM-7 160 septets in one part, 153 per concatenated part
(a 6-octet UDH costs 7 septets once packed); UCS-2 140 octets (70 units), 134 (67 units) per part. A part never
ends with the escape septet of a two-septet extension character, nor between the halves of a surrogate pair.
"""

from __future__ import annotations

GSM7 = 0
UCS2 = 8

GSM_SINGLE = 160
GSM_PART = 153
UCS2_SINGLE = 140
UCS2_PART = 134
ESC = 0x1B

# The default alphabet, indexed by septet (0x1B is the escape to the extension table).
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: septet after ESC -> character.
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|",
             0x65: "€"}

assert len(DEFAULT_ALPHABET) == 128

# char -> the latin-1 string of its septets, so str.translate + encode("latin-1") encodes a whole message.
_ENCODE: dict[int, str] = {ord(c): chr(i) for i, c in enumerate(DEFAULT_ALPHABET) if i != ESC}
_ENCODE.update({ord(c): "\x1b" + chr(code) for code, c in EXTENSION.items()})
_GSM_CHARS = frozenset(chr(k) for k in _ENCODE)
_DECODE: dict[int, str] = {i: c for i, c in enumerate(DEFAULT_ALPHABET)}


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return _GSM_CHARS.issuperset(text)


def gsm7_encode(text: str) -> bytes | None:
    """Unpacked septets (one per octet), or None when `text` has a character GSM-7 cannot carry."""
    if not _GSM_CHARS.issuperset(text):
        return None
    return text.translate(_ENCODE).encode("latin-1")


def gsm7_decode(data: bytes) -> str:
    """Unpacked septets to text, leniently: an unknown extension code shows its default-table character (as
    03.38 asks of a receiver), a trailing lone escape is a space, and the top bit of each octet is ignored."""
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        b = data[i] & 0x7F
        if b == ESC:
            if i + 1 < n:
                nb = data[i + 1] & 0x7F
                ext = EXTENSION.get(nb)
                out.append(ext if ext is not None else (" " if nb == ESC else _DECODE[nb]))
                i += 2
                continue
            out.append(" ")
            i += 1
            continue
        out.append(_DECODE[b])
        i += 1
    return "".join(out)


def ucs2_encode(text: str) -> bytes:
    """UTF-16-BE: characters beyond the BMP become surrogate pairs (what handsets expect for data_coding 8)."""
    return text.encode("utf-16-be")


def ucs2_decode(data: bytes) -> str:
    """UTF-16-BE to text; an odd trailing octet or a lone surrogate becomes U+FFFD rather than an error."""
    return data.decode("utf-16-be", "replace")


def encode(text: str) -> tuple[int, bytes]:
    """(data_coding, short_message octets): GSM-7 when every character fits, else UCS-2 for the whole text."""
    data = gsm7_encode(text)
    if data is not None:
        return GSM7, data
    return UCS2, text.encode("utf-16-be")


def split(data: bytes, coding: int) -> list[bytes]:
    """Cut encoded text into parts: one part when it fits a single SMS, else parts of at most 153 septets (GSM-7)
    or 134 octets (UCS-2), moving a cut back by one unit rather than split an escape or a surrogate pair."""
    if coding == UCS2:
        single, size = UCS2_SINGLE, UCS2_PART
    else:
        single, size = GSM_SINGLE, GSM_PART
    n = len(data)
    if n <= single:
        return [data]
    parts: list[bytes] = []
    i = 0
    while n - i > size:
        cut = i + size
        if coding == UCS2:
            if 0xD8 <= data[cut - 2] <= 0xDB:  # a high surrogate must stay with its low half
                cut -= 2
        elif data[cut - 1] == ESC:  # escape septets only ever lead a pair in our encoding
            cut -= 1
        parts.append(data[i:cut])
        i = cut
    parts.append(data[i:])
    return parts


def segments(text: str) -> tuple[int, list[bytes]]:
    """Encode and split in one call: (data_coding, parts without UDH)."""
    coding, data = encode(text)
    return coding, split(data, coding)


def udh(ref: int, total: int, seq: int) -> bytes:
    """The 6-octet concatenation header (IEI 0x00, 8-bit reference)."""
    return bytes((5, 0, 3, ref & 0xFF, total, seq))

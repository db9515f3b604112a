"""GSM-7 / UCS-2 encoder and splitter: exact vectors (T21) and properties, on both implementations."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._fast import implementations

IMPLS = implementations("gsm")
ids = [m.__name__.rsplit(".", 1)[-1] for m in IMPLS]
impl = pytest.mark.parametrize("g", IMPLS, ids=ids)

TWIN = IMPLS[-1]
GSM_BASIC = TWIN.DEFAULT_ALPHABET.replace("\x1b", "")
GSM_EXT = "".join(TWIN.EXTENSION.values())

gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXT, max_size=700)
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


@impl
def test_160_gsm_is_one_part_161_is_two(g: ModuleType) -> None:
    assert g.segments("a" * 160) == (0, [b"a" * 160])
    coding, parts = g.segments("a" * 161)
    assert coding == 0 and [len(p) for p in parts] == [153, 8]


@impl
def test_70_ucs2_is_one_part_71_is_two(g: ModuleType) -> None:
    coding, parts = g.segments("й" * 70)
    assert coding == 8 and [len(p) for p in parts] == [140]
    coding, parts = g.segments("й" * 71)
    assert coding == 8 and [len(p) // 2 for p in parts] == [67, 4]


@impl
def test_euro_at_the_boundary_is_not_split(g: ModuleType) -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro's escape would be septet 153
    coding, parts = g.segments(text)
    assert coding == 0
    assert parts[0] == b"a" * 152
    assert parts[1] == b"\x1b\x65" + b"b" * 10


@impl
def test_emoji_straddling_the_boundary_is_not_split(g: ModuleType) -> None:
    text = "й" * 66 + "😀" + "й" * 10  # the emoji's high surrogate is unit 67
    coding, parts = g.segments(text)
    assert coding == 8
    assert parts[0] == ("й" * 66).encode("utf-16-be")
    assert parts[1].decode("utf-16-be") == "😀" + "й" * 10


@impl
def test_one_non_gsm_character_switches_the_whole_message(g: ModuleType) -> None:
    assert g.encode("Hello @ world")[0] == 0
    coding, data = g.encode("Hello @ world ✓")
    assert coding == 8 and data == "Hello @ world ✓".encode("utf-16-be")


@impl
def test_golden_gsm_vectors(g: ModuleType) -> None:
    assert g.gsm7_encode("@£$_€[]{}") == bytes([0, 1, 2, 0x11, 0x1B, 0x65, 0x1B, 0x3C, 0x1B, 0x3E, 0x1B, 0x28, 0x1B,
                                                0x29])
    assert g.gsm7_encode("ΔΩ") == b"\x10\x15"
    assert g.gsm7_encode("`") is None
    assert g.gsm7_decode(b"\x1b\x65\x00\x1b") == "€@ "
    assert g.gsm7_decode(b"\x1b\x41") == "A"  # unknown extension: the default-table character


@impl
def test_udh(g: ModuleType) -> None:
    assert g.udh(0x1A2, 3, 2) == b"\x05\x00\x03\xa2\x03\x02"


@impl
@settings(max_examples=200, deadline=None)
@given(gsm_text)
def test_gsm_round_trip_and_part_sizes(g: ModuleType, text: str) -> None:
    coding, parts = g.segments(text)
    assert coding == 0
    joined = b"".join(parts)
    assert g.gsm7_decode(joined) == text
    septets = len(joined)
    if septets <= 160:
        assert len(parts) == 1
    else:
        assert all(152 <= len(p) <= 153 for p in parts[:-1]) and 1 <= len(parts[-1]) <= 153
    for p in parts:  # no part ends inside an escape: each part decodes alone to a prefix of the rest
        assert not p.endswith(b"\x1b") or p.endswith(b"\x1b\x1b")
    assert "".join(g.gsm7_decode(p) for p in parts) == text


@impl
@settings(max_examples=200, deadline=None)
@given(any_text)
def test_any_text_round_trip_and_no_split_surrogates(g: ModuleType, text: str) -> None:
    coding, parts = g.segments(text)
    decode = g.gsm7_decode if coding == 0 else g.ucs2_decode
    assert "".join(decode(p) for p in parts) == text  # every part decodes alone: nothing split
    if coding == 8:
        assert not g.is_gsm7(text)
        units = len(b"".join(parts)) // 2
        if units > 70:
            assert all(132 <= len(p) <= 134 for p in parts[:-1])
    else:
        assert g.is_gsm7(text)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_twins_agree(text: str) -> None:
    results = [(m.is_gsm7(text), m.segments(text)) for m in IMPLS]
    assert all(r == results[0] for r in results)

"""Link rewriting and the open pixel: byte-exact except the hrefs, `ses:no-track`, the pixel's place."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import _fast
from gateway.tracking.rewrite import add_pixel, pixel_tag, rewrite_links, track
from gateway.tracking.tokens import MessageSigner, Signer, Verifier


def tag(i: int, url: str) -> str:
    return f"T{i}[{url}]"


def test_http_and_https_links_are_rewritten_in_order_and_nothing_else_changes() -> None:
    src = ('<p>Hi <b>x</b></p>\n<a class="btn" href="https://a.example/x?q=1">A</a> '
           "<A HREF='http://b.example/'>B</A> <a href=https://c.example/c>C</a>"
           '<a href="mailto:x@y.example">m</a><a href="#top">t</a><a href="/rel">r</a><a name="n">n</a>')
    out, n = rewrite_links(src, tag)
    assert n == 3
    assert out == ('<p>Hi <b>x</b></p>\n<a class="btn" href="T0[https://a.example/x?q=1]">A</a> '
                   "<A HREF='T1[http://b.example/]'>B</A> <a href=T2[https://c.example/c]>C</a>"
                   '<a href="mailto:x@y.example">m</a><a href="#top">t</a><a href="/rel">r</a><a name="n">n</a>')


def test_entities_in_href_are_decoded_for_the_redirect() -> None:
    urls: list[str] = []
    rewrite_links('<a href="https://a.example/?a=1&amp;b=2">x</a>', lambda i, u: urls.append(u) or "X")
    assert urls == ["https://a.example/?a=1&b=2"]


def test_no_track_keeps_the_href_and_drops_the_attribute() -> None:
    src = ('<a ses:no-track href="https://a.example/">a</a>'
           '<a href="https://b.example/" SES:NO-TRACK class="c">b</a><a href="https://c.example/">c</a>')
    out, n = rewrite_links(src, tag)
    assert out == ('<a href="https://a.example/">a</a>'
                   '<a href="https://b.example/" class="c">b</a><a href="T0[https://c.example/]">c</a>')
    assert n == 1


def test_quoted_gt_inside_attribute_and_non_anchor_tags() -> None:
    src = ('<abbr title="x">y</abbr><area href="https://x.example/"><a title="a > b" href="https://a.example/">a</a>'
           '<a\nhref="https://n.example/">n</a>')
    out, _ = rewrite_links(src, tag)
    assert out == ('<abbr title="x">y</abbr><area href="https://x.example/">'
                   '<a title="a > b" href="T0[https://a.example/]">a</a><a\nhref="T1[https://n.example/]">n</a>')


def test_data_href_and_own_server_links_are_not_tracked() -> None:
    src = '<a data-href="https://x.example/" href="https://t.example/u/tok">u</a>'
    out, n = rewrite_links(src, tag, "https://t.example/")
    assert (out, n) == (src, 0)


def test_html_without_links_is_returned_as_is() -> None:
    src = "<html><body><p>no links <a name=x>here</a> <a</p></body></html>"
    out, n = rewrite_links(src, tag)
    assert out is src and n == 0


def test_pixel_goes_before_the_last_body_end_tag() -> None:
    assert add_pixel("<html><body>x</body></html>", "<img>") == "<html><body>x<img></body></html>"
    assert add_pixel("<BODY>x</BODY ></HTML>", "<img>") == "<BODY>x<img></BODY ></HTML>"
    assert add_pixel("<p>fragment</p>", "<img>") == "<p>fragment</p><img>"


_html = st.lists(st.sampled_from([
    "<p>", "</p>", "text ", "<a href=\"https://x.example/1\">", "<a href='http://y.example/'>", "</a>", "<a ",
    "<a name=n>", "<a ses:no-track href=\"https://z.example/\">", "&amp;", ">", "\"", "'", "<b>", "<A HREF=x>",
]), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(src=_html)
def test_rewriting_changes_only_href_values(src: str) -> None:
    """Undoing the rewrite (T{i}[url] back to the url) gives the source minus the no-track attributes."""
    out, n = rewrite_links(src, lambda i, u: f"\x00{i}\x00")
    urls: list[str] = []
    rewrite_links(src, lambda i, u: urls.append(u) or "")
    for i in range(n):
        out = out.replace(f"\x00{i}\x00", urls[i], 1)
    assert out == src.replace(" ses:no-track", "")


def test_an_unclosed_anchor_fails_fast_and_is_left_as_is() -> None:
    """The anchor pattern is possessive: before, this input made the regex backtrack exponentially."""
    src = "<a " + "b c " * 40 + '"' + "d " * 40
    assert rewrite_links(src, tag) == (src, 0)


_IMPLS = _fast.implementations("track")
_messy = st.lists(st.sampled_from([
    "<a", "<A", " ", "\n", "/", ">", "=", '"', "'", "href", "HREF", "ses:no-track", "SES:No-Track", "x", "https://u/",
    "<", "<ab", "&amp;", "é", "\u2028",
]), max_size=40).map("".join)


@pytest.mark.parametrize("src", ["", "<a", "<a>", "<a href>", "<a href=>", "<a =x href=y>", "<a/href='q'>",
                                 '<a href="x" href="y">', '<a ses:no-track="" href=x ses:no-track>', '<a href="x',
                                 "<a\fhref=x>"])
def test_compiled_scanner_and_twin_agree_on_edge_cases(src: str) -> None:
    results = [impl.anchors(src) for impl in _IMPLS]
    assert len(_IMPLS) == 2 and results[0] == results[1]


@settings(max_examples=500, deadline=None)
@given(src=st.one_of(_messy, _html, st.text(max_size=60)))
def test_compiled_scanner_and_twin_agree(src: str) -> None:
    assert _IMPLS[0].anchors(src) == _IMPLS[1].anchors(src)
    assert rewrite_links(src, tag, scan=_IMPLS[0].anchors) == rewrite_links(src, tag, scan=_IMPLS[1].anchors)


# ------------------------------------------------------------------ the one-pass rewrite (track) and its MAC

# SipHash-2-4-128 reference vectors (github.com/veorq/SipHash vectors.h, vectors_sip128): key 00..0f, message
# 00..(n-1).
_SIP128 = {
    0: "a3817f04ba25a8e66df67214c7550293", 1: "da87c1d86b99af443476591 19b22fc45".replace(" ", ""),
    7: "a1f1ebbed8dbc153c0b84aa61ff08239", 8: "3b62a9ba6258f5610f83e264f31497b4",
    15: "5493e99933b0a8117e08ec0f97cfc3d9", 16: "6ee2a4ca67b054bbfd3315bf85230577",
    63: "5150d1772f50834a503e069a973fbd7c",
}


@pytest.mark.parametrize("n", sorted(_SIP128))
def test_mac_is_siphash_2_4_128_in_both_implementations(n: int) -> None:
    assert len(_IMPLS) == 2
    for impl in _IMPLS:
        assert impl.mac(bytes(range(16)), bytes(range(n))).hex() == _SIP128[n]


def test_mac_refuses_a_key_that_is_not_16_bytes() -> None:
    for impl in _IMPLS:
        with pytest.raises(ValueError, match="16 bytes"):
            impl.mac(b"short", b"x")


_KEYS = {"k1": b"0123456789abcdef0123456789abcdef"}


def _composed(src: str, signer: MessageSigner, pixel: bool) -> tuple[str, int]:
    """What `track` must equal: rewrite_links with signed click URLs, then add_pixel."""
    out, n = rewrite_links(src, lambda i, u: "https://t.example/c/" + signer.click(i, u), "https://t.example/")
    return (add_pixel(out, pixel_tag("https://t.example/o/" + signer.open())) if pixel else out), n


_bodies = st.lists(st.sampled_from([
    "<p>", "text ", '<a href="https://x.example/1?a=1&amp;b=2">', "<a href='HTTP://y.example/é'>", "</a>",
    '<a href=" https://z.example/&lt;x ">', "<a ses:no-track href=\"https://z.example/\">", "<a href=https://t.example/u/x>",
    "</body>", "</BODY >", '<a href="</body>">', "€", "\U0001f600", "&amp;", "<a", "<b>", '<a href="mailto:a@b">',
    '<a href="http://s.example/">', "<a href=\"https://q.example/&amp;amp;\">",
]), max_size=25).map("".join)


def _track_equals_rewrite_then_pixel(src: str, signer: MessageSigner, pixel: bool, clicks: bool) -> None:
    """One pass (links and pixel) gives what rewriting then adding the pixel gives, in both implementations."""
    want = _composed(src, signer, pixel) if clicks else (
        (add_pixel(src, pixel_tag("https://t.example/o/" + signer.open())) if pixel else src), 0)
    for impl in _IMPLS:
        got = track(src, signer, "https://t.example/c/" if clicks else None, "https://t.example/",
                    "https://t.example/o/" if pixel else None, impl=impl)
        assert got == want


@settings(max_examples=400, deadline=None)
@given(src=_bodies, pixel=st.booleans(), clicks=st.booleans())
def test_track_equals_rewrite_then_pixel_in_both_implementations(src: str, pixel: bool, clicks: bool) -> None:
    _track_equals_rewrite_then_pixel(src, Signer(_KEYS).message("app", "msg-1", "ep-1"), pixel, clicks)


def test_tracked_links_verify_and_redirect_only_to_their_own_urls() -> None:
    signer = Signer(_KEYS).message("app", "msg-1", "ep-1")
    src = ('<a href="https://a.example/x?q=1&amp;r=2">A</a><a href="https://b.example/">B</a>'
           '<a href="https://t.example/u/tok">unsub</a></body>')
    out, n = track(src, signer, "https://t.example/c/", "https://t.example/", "https://t.example/o/")
    assert n == 2
    tokens = re.findall(r"https://t\.example/([co])/([A-Za-z0-9_.-]+)", out)
    v = Verifier(_KEYS)
    got = [v.verify(t) for _, t in tokens]
    assert [(g.kind, g.link, g.url) for g in got] == [
        ("c", 0, "https://a.example/x?q=1&r=2"), ("c", 1, "https://b.example/"), ("o", -1, "")]
    assert {(g.app, g.message_id, g.endpoint_id) for g in got} == {("app", "msg-1", "ep-1")}
    assert 'href="https://t.example/u/tok"' in out


# ------------------------------------------------------------------ the send path's compiled signer and rewriter

_id = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1f"), max_size=90)


@settings(max_examples=300, deadline=None)
@given(app=_id, mid=_id, eid=_id, src=_bodies, pixel=st.booleans(), clicks=st.booleans())
def test_track_with_any_ids_equals_rewrite_then_pixel(app: str, mid: str, eid: str, src: str, pixel: bool,
                                                      clicks: bool) -> None:
    """Ids of every length put the end of the shared click prefix at every offset of SipHash's 8-byte blocks and
    base64's 3-byte groups (the prefix is MACed and encoded once per message; each link continues from there)."""
    _track_equals_rewrite_then_pixel(src, Signer(_KEYS).message(app, mid, eid), pixel, clicks)


def test_many_links_and_long_ids_past_the_stack_buffers() -> None:
    """300 links and 3 KB ids outgrow the rewrite's stack buffers (edits, pieces, token bodies, the prefix's
    base64): the heap takes over and every token still verifies to its own link."""
    ids = ("a" * 1000, "m" * 1000, "e" * 1000)
    signer = Signer(_KEYS).message(*ids)
    src = "".join(f'<p><a href="https://x.example/{i}?a=1&amp;b={i}">{i}</a></p>' for i in range(300)) + "</body>"
    want = _composed(src, signer, True)
    for impl in _IMPLS:
        assert track(src, signer, "https://t.example/c/", "https://t.example/", "https://t.example/o/",
                     impl=impl) == want
    got = [Verifier(_KEYS).verify(t) for t in re.findall(r"https://t\.example/[co]/([A-Za-z0-9_.-]+)", want[0])]
    assert [(g.link, g.url) for g in got[:300]] == [(i, f"https://x.example/{i}?a=1&b={i}") for i in range(300)]
    assert got[300].kind == "o" and {(g.app, g.message_id, g.endpoint_id) for g in got} == {ids}


def test_pixel_only_output_is_byte_exact() -> None:
    """No click prefix (clicks off): the pixel alone, the rest as it was (the compiled join took a slow path)."""
    signer = Signer(_KEYS).message("app", "m", "e")
    src = '<p><a href="https://x.example/">x</a></p></body></html>'
    for impl in _IMPLS:
        out, n = track(src, signer, None, "https://t.example/", "https://t.example/o/", impl=impl)
        assert (out, n) == (add_pixel(src, pixel_tag("https://t.example/o/" + signer.open())), 0)


@pytest.mark.parametrize("ids", [("app", "msg-1", "ep-1"), ("", "", ""), ("é", "\U0001f600", "x" * 200)])
def test_message_signers_of_both_implementations_make_the_same_tokens(ids: tuple[str, str, str]) -> None:
    key = bytes(range(16))
    made = []
    for impl in _IMPLS:
        m = impl.SignerBase("kid", key).message(*ids)
        assert m.head == ("\x1f" + "\x1f".join(ids)).encode() and (m.kid, m.key) == ("kid", key)
        made.append((m.open(), m.click(3, "https://x.example/é"), m.unsubscribe("a@b.example")))
    assert len(made) == 2 and made[0] == made[1]


@pytest.mark.parametrize("bad", [("a\x1fb", "m", "e"), ("a", "m\x1f", "e"), ("a", "m", "\x1f")])
def test_an_id_with_the_separator_is_refused_by_both(bad: tuple[str, str, str]) -> None:
    for impl in _IMPLS:
        with pytest.raises(ValueError, match="U\\+001F"):
            impl.SignerBase("kid", bytes(16)).message(*bad)


@pytest.mark.parametrize("src", ["<p>x</p></body></html>", "<P>x</P></BODY >", "<p>fragment</p>", "",
                                 '<a href="https://x.example/">a</a></body>'])
def test_bound_rewriters_agree_with_track(src: str) -> None:
    """The Tracker's rewriter (pixel before the last `</body>`, any case, else at the end) equals `track`, in
    both implementations, through `__call__` and `html`."""
    from gateway.tracking.rewrite import rewriter
    signer = Signer(_KEYS).message("app", "m", "e")
    want = _composed(src, signer, True)
    for impl in _IMPLS:
        rw = rewriter(signer.kid, "https://t.example/c/", "https://t.example/", "https://t.example/o/", impl=impl)
        assert rw(src, signer) == want and rw.html(src, signer) == want[0]


def test_a_message_signer_is_not_tracked_by_the_garbage_collector() -> None:
    """One is made per email: like the msgspec Struct it replaced (gc=False), it must not feed GC collections."""
    import gc
    assert len(_IMPLS) == 2  # the compiled one (the twin's, a plain class, is tracked)
    assert not gc.is_tracked(_IMPLS[0].SignerBase("k1", bytes(16)).message("app", "m", "e"))


@settings(max_examples=200, deadline=None)
@given(ids=st.tuples(_id, _id, _id) | st.tuples(*[st.text(st.sampled_from("aZ9-\x1f\x00~"), max_size=120)] * 3),
       src=_bodies)
def test_message_html_equals_the_message_signers_rewrite(ids: tuple[str, str, str], src: str) -> None:
    """The send path's one call (`message_html`: the message's head written on the stack for ASCII ids that fit,
    else through `message`) makes what `html` makes with `message`'s signer, or refuses what `message` refuses,
    in both implementations (ids of any length, ASCII or not, with U+001F or not)."""
    from gateway.tracking.rewrite import rewriter
    base = Signer(_KEYS)
    try:
        want: str | None = _composed(src, base.message(*ids), True)[0]
    except ValueError:
        want = None
    for impl in _IMPLS:
        rw = rewriter(base.kid, "https://t.example/c/", "https://t.example/", "https://t.example/o/", impl=impl)
        if want is None:
            with pytest.raises(ValueError, match="U\\+001F"):
                rw.message_html(src, base, *ids)
        else:
            assert rw.message_html(src, base, *ids) == want


@pytest.mark.parametrize("ids", [("a" * 84, "m" * 84, "e" * 85), ("a" * 84, "m" * 84, "e" * 86),
                                 ("a\x1f", "m", "e"), ("a", "m", "e\x1f"), ("é", "m", "e")])
def test_message_html_at_the_stack_heads_edges(ids: tuple[str, str, str]) -> None:
    """Heads of 256 bytes (on the stack) and 257 (through `message`); the separator in the first or last id."""
    from gateway.tracking.rewrite import rewriter
    base = Signer(_KEYS)
    src = '<p><a href="https://x.example/?a=1&amp;b=2">x</a></p></body>'
    for impl in _IMPLS:
        rw = rewriter(base.kid, "https://t.example/c/", "https://t.example/", "https://t.example/o/", impl=impl)
        if "\x1f" in "".join(ids):
            with pytest.raises(ValueError, match="U\\+001F"):
                rw.message_html(src, base, *ids)
        else:
            assert rw.message_html(src, base, *ids) == _composed(src, base.message(*ids), True)[0]

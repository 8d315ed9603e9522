"""Hypothesis strategies for what a browser, a script or an attacker may send to the studio.

A value is a string, or a `Ref`: a name for something of the test's data (a generation's
id, an invite's token, a valid page cursor) that is looked up when the request is made,
so that the same drawn input means the same thing on every run and every database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from hypothesis import strategies as st


@dataclass(frozen=True)
class Ref:
    """Something of the test's data, by name: `generation.success`, `invite.usable.token`, …"""

    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


Value = str | Ref
Pairs = list[tuple[str, Value]]


def refs(*names: str) -> st.SearchStrategy[Ref]:
    return st.sampled_from([Ref(name) for name in names])


GENERATIONS = [
    "pending", "submitting", "queued", "processing", "success", "success_missing_files", "failed", "cancelled",
    "by_teammate", "imported_2_1", "imported_odd", "outsider",
]  # fmt: skip
GENERATION_IDS = [f"generation.{name}" for name in GENERATIONS]
USER_IDS = [f"user.{name}" for name in ("owner", "teammate", "outsider", "admin")]
TEAM_IDS = [f"team.{name}" for name in ("studio", "teammate_own", "outsider")]
INVITES = ("usable", "revoked", "expired", "outsider")
INVITE_IDS = [f"invite.{name}.id" for name in INVITES]
INVITE_TOKENS = [f"invite.{name}.token" for name in INVITES]
SHARE_TOKENS = [f"share.{name}.token" for name in ("live", "revoked", "outsider")]
MEMBERSHIP_IDS = [f"membership.{name}" for name in ("owner", "teammate", "outsider", "teammate_own")]
CURSORS = ["cursor.page_end", "cursor.success", "cursor.outsider"]
EVERY_ID = [*GENERATION_IDS, *USER_IDS, *TEAM_IDS, *INVITE_IDS, *MEMBERSHIP_IDS, "favourite.teammate"]

# Strings that have broken web applications before: empty and blank, control characters
# and NUL, numbers in other scripts and of absurd size, markup, template and SQL syntax,
# redirect targets, and texts at and over the studio's limits.
NASTY = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\r\n ", "\u00a0", "\u3000", "\u2028", "\u200b", "\ufeff",
    "\x00", "a\x00b", "\x00" * 3, "\x01\x02\x7f", "\x1b[31m", "\x08", "%00", "%", "%ZZ", "%FF", "+",
    "0", "00", "-1", "-0", "+1", "1.5", "1,5", "1e309", "-1e309", "nan", "NaN", "inf", "-inf", "0x10", "1_000", " 7 ",
    "²", "٣", "١٢", "０", "𝟗", "Ⅻ", "½", "߀",
    "9" * 19, "9" * 20, "1" * 5000, "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "2147483648",
    "true", "false", "on", "off", "yes", "None", "null", "undefined", "[]", "{}", "[object Object]",
    "é", "日本語", "🎬🦊", "\u202e\u202dabc", "Z\u0351\u0352\u0353", "\U0010ffff", "İ", "ß", "ﬀ",
    "<script>alert(1)</script>", "{{ 7*7 }}", "{% debug %}", "' OR '1'='1", '"; DROP TABLE x; --', "%s%s%n",
    "../../etc/passwd", "/", "//", "\\", "a/b", "?", "#", "&", "=", ";",
    "x" * 2500, "x" * 2501, "é" * 2600, "word " * 60, "a" * 20_000,
]  # fmt: skip

DIGITS = [
    "0", "00", "1", "01", "7", "-1", "+1", "1.0", "1e3", " 1", "1 ", "0x1F", "1_0",
    "²", "٣", "١٢٣", "０", "𝟗", "Ⅻ", "9" * 19, "9" * 20, "1" * 5000, "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "18446744073709551616",
]  # fmt: skip

NEXT = [
    "", "/", "/gallery/", "/gallery/?q=fox&status=success", "/teams/", "//evil.example/", "///evil.example/",
    "https://evil.example/", "http://testserver/gallery/", "https://testserver/", "javascript:alert(1)",
    "\\\\evil.example", "/\\evil.example", "https:///evil.example", "http://[", "http://[::1]/", "mailto:a@b.c",
    "foo", "gallery", "generations:create", "admin:index", "teams:detail", ":", "-", "_", "é", "日本",
    "/\x00", "\x00", "/%00", "/é", " /", "\t/", "/a\r\nX-Injected: yes", "?next=/", "#top", "/" + "a" * 5000,
]  # fmt: skip

DATES = [
    "9999-12-31", "9999-12-30", "0001-01-01", "0001-01-02", "1970-01-01", "2026-02-29", "2024-02-29", "2026-13-01",
    "2026-00-10", "2026-05-00", "10000-01-01", "0000-00-00", "31/12/9999", "01/01/0001", "31/12/2025", "12/31/2025",
    "2026-05-01T10:00", "2026-05-01 10:00", "today", "٢٠٢٦-٠٥-٠١", "2026-5-1", "+2026-05-01", "99999-01-01",
]  # fmt: skip

CURSOR_TEXT = [
    "0.0", ".", "1.", ".1", "-1.-1", "0.-1", "٣.٣", "².1", "1e5.2", "nan.1", "1.nan", "1.1.1", "1 .1",
    "253402300799999999.1", "253402300800000000.1", "-62135596800000000.1", "-62135596800000001.1",
    "1.99999999999999999999", "1.9223372036854775808", "9" * 5000 + ".1", "1." + "9" * 5000,
]  # fmt: skip

RANGES = [
    "bytes=0-", "bytes=0-0", "bytes=0-1", "bytes=1-0", "bytes=-0", "bytes=-1", "bytes=-99999", "bytes=50-",
    "bytes=99999-", "bytes=" + "9" * 5000 + "-", "bytes=-" + "9" * 5000, "bytes=0-" + "9" * 5000,
    "bytes=999999999999999999-", "bytes=0-999999999999999999", "bytes=999999999999999999-999999999999999999",
    "bytes=٣-", "bytes=²-", "bytes=-٣", "bytes=0-1,2-3", "bytes=", "bytes=-", "bytes=--1", "bytes=1--2",
    "items=0-1", "garbage", "", " bytes=0-1 ", "bytes = 0-1", "BYTES=0-1", "bytes=0x10-", "bytes=+1-",
]  # fmt: skip

# Raw pieces of a query string or urlencoded body that urlencode() would never make.
RAW_TAILS = ["", "&", "&&&", "=", "&=x", "&flag", ";a=b", "&%FF=%FE", "&q=%ZZ", "&next=%00", "&ids=%C0%AF", "&%00=1"]


def text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text a form may carry (never lone surrogates, which cannot be sent as UTF-8)."""
    return st.text(st.characters(codec="utf-8"), max_size=max_size)


def nasty() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY), text(), st.integers().map(str), with_nul())


def blank() -> st.SearchStrategy[str]:
    """Only whitespace and control characters."""
    return st.text(st.sampled_from(" \t\r\n\x0b\x0c\x00\x1f\u00a0\u2028\u3000"), min_size=1, max_size=12)


def numbers() -> st.SearchStrategy[str]:
    """Numbers as text: ordinary, negative, huge, and in other scripts."""
    return st.one_of(
        st.sampled_from(DIGITS),
        st.integers(min_value=-(10**6), max_value=10**6).map(str),
        st.integers(min_value=0, max_value=10**30).map(str),
    )


def ids(*names: str) -> st.SearchStrategy[Value]:
    """An id in a query or a body: one of the test data's (by default any), or a made-up number."""
    return st.one_of(refs(*(names or EVERY_ID)), numbers(), nasty())


def path_ids(*names: str) -> st.SearchStrategy[Value]:
    """An id in a path that only takes digits (`<int:...>`): the data's own, zero, huge."""
    return st.one_of(
        refs(*names),
        st.sampled_from(["0", "00", "000001", "9" * 19, "9" * 20, "1" * 5000, "9223372036854775808"]),
        st.integers(min_value=0, max_value=10**25).map(str),
    )


def with_nul() -> st.SearchStrategy[str]:
    """Text with a NUL character in it (`%00` in a URL), which no database column may hold."""
    return st.builds(lambda before, after: f"{before}\x00{after}", text(8), text(8))


def path_text(*names: str) -> st.SearchStrategy[Value]:
    """A path parameter that takes text (`<str:...>`, `<path:...>`): anything at all."""
    anything = [nasty(), numbers(), with_nul()]
    return st.one_of(refs(*names), *anything) if names else st.one_of(*anything)


def next_urls() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NEXT), nasty())


def dates() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(DATES),
        st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
        nasty(),
    )


def real_dates() -> st.SearchStrategy[str]:
    """Dates a date picker can give, the first and the last day there is as often as any other."""
    return st.one_of(
        st.sampled_from(["9999-12-31", "0001-01-01"]),
        st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    )


def well_formed_cursors() -> st.SearchStrategy[Value]:
    """Page cursors as the gallery writes them (microseconds since 1970, a dot, an id)."""
    micros = st.integers(min_value=-62135596800 * 10**6, max_value=253402300799 * 10**6 + 999999)
    ids = st.integers(min_value=0, max_value=10**20)
    return st.one_of(refs(*CURSORS), st.builds(lambda m, i: f"{m}.{i}", micros, ids))


def cursors() -> st.SearchStrategy[Value]:
    return st.one_of(well_formed_cursors(), st.sampled_from(CURSOR_TEXT), nasty())


def choice(*good: str) -> st.SearchStrategy[str]:
    """A choice field: its valid values first (so they are tried most), then anything."""
    return st.one_of(st.sampled_from(good), nasty())


def prompts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["A red fox in the snow", "x" * 2500, "x" * 2501, "🦊" * 2500, "fox\x00snow"]),
        blank(),
        nasty(),
        text(max_size=300),
    )


def fields(
    spec: Mapping[str, st.SearchStrategy[Value]], *, strays: bool = True, every: bool = False
) -> st.SearchStrategy[Pairs]:
    """Form fields as (name, value) pairs: each field sent once, left out, or repeated (or,
    with `every`, each sent once), in any order, and now and then a field nobody asked for."""
    counts = (1,) if every else (0, 1, 0, 1, 1, 2)

    @st.composite
    def build(draw) -> Pairs:
        pairs: Pairs = []
        for name, values in spec.items():
            for _ in range(draw(st.sampled_from(counts))):
                pairs.append((name, draw(values)))
        if strays:
            pairs += draw(
                st.lists(st.tuples(st.one_of(st.sampled_from(list(spec) or ["x"]), text(12)), nasty()), max_size=2)
            )
        return draw(st.permutations(pairs)) if len(pairs) > 1 and draw(st.booleans()) else pairs

    return build()


def form(
    plausible: Mapping[str, st.SearchStrategy[Value]], **odd: st.SearchStrategy[Value]
) -> st.SearchStrategy[Pairs]:
    """A form as a browser fills it (every field, each a plausible value), or as anything at
    all: any field missing, repeated or odd (`odd` gives a field's own odd values, else
    `nasty()`). Both matter: a form with one bad field never reaches what valid ones do,
    so two in three are filled in as a browser would."""
    anything = {name: st.one_of(values, odd.get(name, nasty())) for name, values in plausible.items()}
    return filled_or_not(fields(plausible, every=True, strays=False), fields(anything))


def filled_or_not(filled: st.SearchStrategy[Pairs], anything: st.SearchStrategy[Pairs]) -> st.SearchStrategy[Pairs]:
    """Two in three as a browser fills the form, one in three anything."""
    return st.sampled_from((True, True, False)).flatmap(lambda as_filled: filled if as_filled else anything)


def with_list(
    name: str, values: st.SearchStrategy[list[Value]], rest: st.SearchStrategy[Pairs]
) -> st.SearchStrategy[Pairs]:
    """A list under one name (`ids=1&ids=2…`), then other fields."""
    return st.tuples(values, rest).map(lambda drawn: [(name, value) for value in drawn[0]] + drawn[1])


def many_ids(*names: str) -> st.SearchStrategy[list[Value]]:
    """A selection of ids (`ids=1&ids=2…`): none, a few, or more than any page allows."""
    return st.one_of(
        st.lists(ids(*names), max_size=6),
        st.lists(refs(*(names or EVERY_ID)), min_size=150, max_size=150),
        st.lists(st.integers(min_value=1, max_value=10**6).map(str), min_size=250, max_size=250),
    )


def header_text() -> st.SearchStrategy[str]:
    """What can arrive in an HTTP header: Latin-1 text without line breaks."""
    return st.one_of(
        st.sampled_from(["", "true", "false", "1", "TRUE", " true", "é", "9" * 5000]),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60),
    )


def htmx_headers(*targets: str) -> st.SearchStrategy[dict[str, str]]:
    """The headers htmx sends, when it sends them: from a real page, or made up."""
    current_urls = ["http://testserver/gallery/?q=fox", "http://testserver/", "https://evil.example/", "http://[", ""]
    return st.fixed_dictionaries(
        {},
        optional={
            "HX-Request": st.one_of(st.just("true"), header_text()),
            "HX-Target": st.one_of(st.sampled_from([*targets, "gallery-results", "generation-list"]), header_text()),
            "HX-Trigger": header_text(),
            "HX-Trigger-Name": header_text(),
            "HX-Current-URL": st.one_of(st.sampled_from(current_urls), header_text()),
            "HX-Current-URL-URI-AutoEncoded": st.sampled_from(["true", "false"]),
            "HX-Boosted": st.one_of(st.just("true"), header_text()),
            "HX-History-Restore-Request": st.one_of(st.just("true"), header_text()),
            "HX-Prompt": header_text(),
            "Triggering-Event": st.sampled_from(["{}", "{", "null", '{"type": "click"}', "[" * 2000]),
        },
    )


def range_headers() -> st.SearchStrategy[dict[str, str]]:
    byte_range = st.tuples(st.integers(0, 2000), st.integers(0, 2000)).map(lambda r: f"bytes={r[0]}-{r[1]}")
    return st.fixed_dictionaries(
        {},
        optional={
            "Range": st.one_of(st.sampled_from(RANGES), byte_range, header_text()),
            "If-Range": header_text(),
            "If-Modified-Since": st.sampled_from(["Sat, 29 Oct 1994 19:43:31 GMT", "garbage", "9" * 5000]),
            "HX-Request": st.just("true"),
            # Opened as a page (a link across teams switches the team) or loaded into one.
            "Sec-Fetch-Dest": st.one_of(st.sampled_from(["document", "video", "image", "empty", ""]), header_text()),
        },
    )


def operations_headers() -> st.SearchStrategy[dict[str, str]]:
    """What a monitoring system sends, or something like it: a token, a request id, an Accept."""
    return st.fixed_dictionaries(
        {},
        optional={
            "Authorization": st.one_of(
                st.sampled_from(["Bearer ", "Bearer a-wrong-token-of-enough-length", "Basic Zm9vOmJhcg==", "bearer"]),
                header_text(),
            ),
            "X-Request-ID": st.one_of(st.sampled_from(["abc-123", "a" * 129, "two words", "ü"]), header_text()),
            "Accept": st.one_of(st.sampled_from(["application/json", "text/html", "*/*", "nonsense/"]), header_text()),
            "X-Forwarded-For": st.sampled_from(["127.0.0.1", "203.0.113.7", "garbage"]),
        },
    )


def raw_tails() -> st.SearchStrategy[str]:
    return st.sampled_from(RAW_TAILS)

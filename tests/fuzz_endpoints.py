"""What the no-server-error test sends to each URL pattern of the studio, by the pattern's name.

Each entry says which methods, query strings, form bodies, path parameters and headers to
draw (from `tests.strategies`), who sends them, and requests always sent besides (bugs
found before, kept found). A pattern missing here makes `test_every_url_pattern_is_fuzzed` fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest
from django.test.client import BOUNDARY
from hypothesis import strategies as st

from tests import strategies as s
from tests.strategies import Pairs, Ref, Value

pytestmark = pytest.mark.django_db


PASSWORD = "a long enough password"
STUDIO_PERSONAS = ("owner", "teammate", "outsider", "anonymous")
ADMIN_PERSONAS = ("anonymous", "owner", "admin")
OTHER_METHODS = ("HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")
# Bodies no form sends: multipart without a boundary or cut short, JSON, an odd charset.
RAW_BODIES = [
    ("multipart/form-data", b"prompt=fox"),
    (f"multipart/form-data; boundary={BOUNDARY}", f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x"'.encode()),
    ("application/json", b'{"prompt": ["fox"], "ids": {"1": 2}}'),
    ("application/x-www-form-urlencoded; charset=utf-16", "prompt=fox&next=/".encode("utf-16")),
    ("application/x-www-form-urlencoded; charset=no-such-charset", b"prompt=fox"),
    ("application/x-www-form-urlencoded", b"prompt=%FF%FE%00&ids=\xff\xfe&next=%C0%AF"),
    ("text/plain", b"\x00" * 64),
]


# What to send to each URL pattern, by its name. A pattern missing here fails loudly.


@dataclass(frozen=True)
class Endpoint:
    methods: tuple[str, ...] = ("GET",)
    query: st.SearchStrategy[Pairs] = field(default_factory=lambda: s.fields({"next": s.next_urls()}))
    body: st.SearchStrategy[Pairs] = field(default_factory=lambda: s.fields({"next": s.next_urls()}))
    params: Mapping[str, st.SearchStrategy[Value]] = field(default_factory=dict)
    headers: st.SearchStrategy[dict[str, str]] = field(default_factory=s.htmx_headers)
    personas: tuple[str, ...] = STUDIO_PERSONAS
    examples: int = 30
    # Requests always sent, besides the generated ones: bugs found before, kept found.
    seeds: tuple[Probe, ...] = ()


@dataclass(frozen=True)
class Probe:
    """One request, before the test data's names in it are looked up."""

    method: str = "GET"
    params: Mapping[str, Value] = field(default_factory=dict)
    query: tuple[tuple[str, Value], ...] = ()
    query_tail: str = ""
    body: tuple[tuple[str, Value], ...] = ()
    encoding: str = "multipart"  # or "urlencoded", or an index into RAW_BODIES
    headers: Mapping[str, str] = field(default_factory=dict)


GENERATION = s.path_ids(*s.GENERATION_IDS)
SHARE_TOKEN = s.path_text(*s.SHARE_TOKENS)
ON = s.choice("studio", "detail", "gallery")
PASSWORDS = st.one_of(st.just(PASSWORD), st.sampled_from(["correct horse battery", "short", "12345678"]), s.nasty())
USERNAMES = st.one_of(s.refs("username.owner", "username.outsider"), st.sampled_from(["grace", "olivia"]), s.nasty())
NEXT = s.next_urls()
EMAILS = st.sampled_from(["grace@example.com", "OLIVIA@example.com", "grace@", "a@b", "é@ü.example", "x" * 260])
CREATE_FORM = s.form(
    {
        "prompt": s.prompts(),
        "negative_prompt": st.one_of(st.just(""), s.prompts()),
        "duration": st.sampled_from(["5", "10"]),
        "aspect_ratio": st.sampled_from(["16:9", "9:16", "1:1"]),
        "cfg_scale": st.one_of(st.sampled_from(["0.5", "0", "1", "0.05"]), st.floats(0, 1).map(str)),
    },
    duration=s.choice("7", "05", "٥", "5.0"),
    aspect_ratio=s.choice("2:1", "16:09", "16/9"),
    cfg_scale=st.one_of(
        st.sampled_from(["-0", "1.0000001", "nan", "inf", "-inf", "1e309", "1e-320", "٠.٥", "0,5"]),
        st.floats().map(repr),
        s.nasty(),
    ),
)
GALLERY_FILTERS = s.form(
    {
        "q": st.one_of(st.sampled_from(["", "fox", "FOX snow", "clip 1", "Fuchs 🦊", "%", "_", "\\"]), s.text(30)),
        "status": st.sampled_from(["", "in_progress", "success", "failed", "cancelled"]),
        "aspect_ratio": st.sampled_from(["", "16:9", "9:16", "1:1"]),
        "duration": st.sampled_from(["", "5", "10"]),
        "creator": st.one_of(st.just(""), s.refs("user.owner", "user.teammate")),
        "favourites": st.sampled_from(["", "on"]),
        "created_from": st.one_of(st.just(""), s.real_dates()),
        "created_to": st.one_of(st.just(""), s.real_dates()),
        "cursor": st.one_of(st.just(""), s.well_formed_cursors()),
        "team": st.one_of(st.just(""), s.ids(*s.TEAM_IDS)),  # a gallery link names its team
    },
    q=st.sampled_from(["fox\x00", "a " * 100, "%%%", "' OR 1=1", "x" * 201]),
    status=s.choice("pending", "submitting", "IN_PROGRESS"),
    aspect_ratio=s.choice("2:1"),
    duration=s.choice("15"),
    creator=s.ids(*s.USER_IDS),
    favourites=s.choice("true", "1", "off", "false"),
    created_from=s.dates(),
    created_to=s.dates(),
    cursor=s.cursors(),
)
BULK_FORM = s.filled_or_not(
    s.with_list(
        "ids",
        st.lists(s.refs(*s.GENERATION_IDS), min_size=1, max_size=len(s.GENERATION_IDS), unique=True),
        s.fields(
            {
                "action": st.sampled_from(["favourite", "delete", "download"]),
                "confirm": st.sampled_from(["yes", "", "no"]),
                "next": NEXT,
            },
            every=True,
            strays=False,
        ),
    ),
    s.with_list(
        "ids",
        s.many_ids(*s.GENERATION_IDS),
        s.fields({"action": s.choice("favourite", "delete", "download", ""), "confirm": s.choice("yes"), "next": NEXT}),
    ),
)


# A finished generation whose file is gone from storage, downloaded with another in a zip.
MISSING_FILE_IN_A_ZIP = (
    ("ids", Ref("generation.success")),
    ("ids", Ref("generation.success_missing_files")),
    ("action", "download"),
)


def team_endpoint(methods=("POST",), **params) -> Endpoint:
    return Endpoint(methods=methods, params={"team_id": s.path_ids(*s.TEAM_IDS), **params})


ENDPOINTS: dict[str, Endpoint] = {
    # The studio
    "generations:create": Endpoint(methods=("GET", "POST"), body=CREATE_FORM, examples=60),
    "generations:gallery": Endpoint(
        query=GALLERY_FILTERS,
        headers=s.htmx_headers("gallery-results"),
        examples=80,
        seeds=(Probe(query=(("created_to", "9999-12-31"),)),),
    ),
    "generations:live_cards": Endpoint(
        query=s.with_list("id", s.many_ids(*s.GENERATION_IDS), s.fields({"on": ON})),
        seeds=(Probe(query=(("id", Ref("generation.imported_2_1")),)),),
    ),
    "generations:events": Endpoint(examples=5),
    "generations:bulk": Endpoint(
        methods=("POST",),
        body=BULK_FORM,
        examples=80,
        seeds=(Probe(method="POST", body=MISSING_FILE_IN_A_ZIP),),
    ),
    "generations:detail": Endpoint(
        params={"pk": GENERATION}, seeds=(Probe(params={"pk": Ref("generation.imported_2_1")}),)
    ),
    "generations:card": Endpoint(
        params={"pk": GENERATION},
        query=s.fields({"on": ON}),
        seeds=(Probe(params={"pk": Ref("generation.imported_2_1")}),),
    ),
    "generations:retry": Endpoint(methods=("POST",), params={"pk": GENERATION}),
    "generations:remix": Endpoint(params={"pk": GENERATION}),
    "generations:cancel": Endpoint(methods=("POST",), params={"pk": GENERATION}, query=s.fields({"on": ON})),
    "generations:favourite": Endpoint(methods=("POST",), params={"pk": GENERATION}),
    "generations:delete": Endpoint(methods=("GET", "POST"), params={"pk": GENERATION}),
    "generations:download": Endpoint(params={"pk": GENERATION}, headers=s.range_headers()),
    "generations:video": Endpoint(params={"pk": GENERATION}, headers=s.range_headers(), examples=40),
    "generations:thumbnail": Endpoint(params={"pk": GENERATION}, headers=s.range_headers()),
    "generations:share": Endpoint(methods=("POST",), params={"pk": GENERATION}),
    "generations:stop_sharing": Endpoint(methods=("POST",), params={"pk": GENERATION}),
    # Cost and budgets: a month in the query string, an owner's budget (others: 403 or 404)
    "generations:usage": Endpoint(
        query=s.fields({"month": s.choice("2026-11", "2000-01", "2999-12", "1999-12", "2026-13", "2026-1")}),
        seeds=(Probe(query=(("month", "9999-99"),)), Probe(query=(("month", "2999-12"),))),
    ),
    "generations:set_budget": Endpoint(
        methods=("POST",),
        params={"team_id": s.path_ids(*s.TEAM_IDS)},
        body=s.form(
            {"monthly_budget": st.one_of(st.sampled_from(["50", "49.50", "0", ""]), s.numbers())},
            monthly_budget=s.choice("-1", "1e309", "NaN", "Infinity", "1.234", "9" * 30, "1e-320"),
        ),
    ),
    # The public share pages: anyone, with a working token, a stopped one, or any text at all.
    "generations:shared": Endpoint(
        params={"token": SHARE_TOKEN}, seeds=(Probe(params={"token": "\x00"}), Probe(params={"token": "a" * 5000}))
    ),
    "generations:shared_video": Endpoint(params={"token": SHARE_TOKEN}, headers=s.range_headers()),
    "generations:shared_thumbnail": Endpoint(params={"token": SHARE_TOKEN}, headers=s.range_headers()),
    # Accounts (the sign-up page is the studio's; the rest is django.contrib.auth's)
    "signup": Endpoint(
        methods=("GET", "POST"),
        body=s.form(
            {"username": USERNAMES, "email": EMAILS, "password1": PASSWORDS, "password2": PASSWORDS, "next": NEXT}
        ),
        examples=40,
    ),
    "login": Endpoint(
        methods=("GET", "POST"),
        body=s.form({"username": USERNAMES, "password": PASSWORDS, "next": NEXT}),
    ),
    "logout": Endpoint(methods=("POST",), examples=15),
    "password_change": Endpoint(
        methods=("GET", "POST"),
        body=s.form({"old_password": PASSWORDS, "new_password1": PASSWORDS, "new_password2": PASSWORDS}),
        examples=20,
    ),
    "password_change_done": Endpoint(examples=5),
    "password_reset": Endpoint(
        methods=("GET", "POST"),
        body=s.form({"email": st.sampled_from(["olivia@example.com", "OLIVIA@example.com", "nobody@example.com"])}),
        examples=20,
    ),
    "password_reset_done": Endpoint(examples=5),
    "password_reset_confirm": Endpoint(
        methods=("GET", "POST"),
        params={
            "uidb64": s.path_text("reset.uidb64"),
            "token": st.one_of(s.refs("reset.token"), st.just("set-password"), s.path_text()),
        },
        body=s.form({"new_password1": PASSWORDS, "new_password2": PASSWORDS}),
        examples=20,
    ),
    "password_reset_complete": Endpoint(examples=5),
    # One's own email address, and the link that confirms it (any text at all, or a real one)
    "email_address": Endpoint(methods=("GET", "POST"), body=s.form({"email": EMAILS}), examples=20),
    "send_email_confirmation": Endpoint(methods=("POST",), examples=10),
    "confirm_email": Endpoint(
        params={"token": s.path_text("confirmation.token")},
        seeds=(Probe(params={"token": "\x00"}), Probe(params={"token": "a:b:c"}), Probe(params={"token": "e30:1:2"})),
        examples=20,
    ),
    # Teams
    "teams:detail": Endpoint(),
    "teams:switch": Endpoint(
        methods=("POST",), body=s.form({"team": s.refs(*s.TEAM_IDS), "next": NEXT}, team=s.ids(*s.TEAM_IDS))
    ),
    "teams:join": Endpoint(
        methods=("GET", "POST"),
        params={"token": s.path_text(*s.INVITE_TOKENS)},
        seeds=(Probe(params={"token": "\x00"}), Probe(method="POST", params={"token": "a\x00b"})),
    ),
    "teams:rename": Endpoint(
        methods=("POST",),
        params={"team_id": s.path_ids(*s.TEAM_IDS)},
        body=s.form({"name": st.one_of(st.just("Lighthouse Films"), s.blank(), s.text(120))}),
    ),
    "teams:leave": team_endpoint(),
    "teams:create_invite": team_endpoint(),
    "teams:email_invite": Endpoint(
        methods=("POST",), params={"team_id": s.path_ids(*s.TEAM_IDS)}, body=s.form({"email": EMAILS}), examples=20
    ),
    "teams:revoke_invite": team_endpoint(invite_id=s.path_ids(*s.INVITE_IDS)),
    "teams:remove_member": team_endpoint(methods=("GET", "POST"), membership_id=s.path_ids(*s.MEMBERSHIP_IDS)),
    # Operations: a health probe and a metrics scrape, by anyone (each answers only whom it should)
    "health": Endpoint(headers=s.operations_headers(), personas=("anonymous", "owner"), examples=8),
    "metrics": Endpoint(headers=s.operations_headers(), personas=("anonymous", "owner"), examples=15),
}

# The admin's URLs come from its registered models: each is sent a generic form, and the
# ids and names of the test data where its path takes them.
ADMIN_FILTERS = [
    "all", "e", "_popup", "_to_field", "_changelist_filters", "status__exact", "aspect_ratio__exact",
    "team__id__exact", "created_at__gte", "created_at__lt", "created_at__year", "created_at__month",
    "created_at__day", "role__exact", "usable", "expires_at__gte", "app_label", "model_name", "field_name", "term",
]  # fmt: skip
ADMIN_QUERY = st.tuples(
    s.fields({"q": s.nasty(), "o": s.choice("1", "-2", "1.-2", "99"), "p": s.numbers()}, strays=False),
    st.lists(st.tuples(st.sampled_from(ADMIN_FILTERS), st.one_of(s.nasty(), s.numbers(), s.ids())), max_size=3),
).map(lambda drawn: drawn[0] + drawn[1])
ADMIN_BODY = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "post", "action", "_selected_action", "index", "_save", "name", "username", "password1",
                "password2", "prompt", "status", "team", "created_by", "memberships-TOTAL_FORMS",
                "memberships-INITIAL_FORMS",
            ]
        ),
        st.one_of(st.sampled_from(["yes", "delete_selected", "revoke", "0", "Save"]), s.nasty(), s.ids()),
    ),
    max_size=8,
)  # fmt: skip
ADMIN_ENDPOINT = Endpoint(
    methods=("GET", "POST"), query=ADMIN_QUERY, body=ADMIN_BODY, personas=ADMIN_PERSONAS, examples=4
)
ADMIN_CHANGELIST = replace(ADMIN_ENDPOINT, examples=20)  # the lists take searches, filters, actions
ADMIN_PARAMS = {
    "object_id": s.path_text(*s.EVERY_ID),
    "id": s.path_text(*s.USER_IDS),
    "content_type_id": s.path_text("contenttype.generation", "contenttype.team", "contenttype.user"),
    "app_label": s.choice("auth", "accounts", "generations", "sessions"),
    "url": st.one_of(st.sampled_from(["generations/generation/1/", "auth/user/add/extra/"]), s.path_text()),
}

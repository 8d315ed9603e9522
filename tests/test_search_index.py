"""The search index and the fast search path: a page found through the index is exactly the
page a plain walk gives, the index follows every change to a prompt, and its migration
goes forward and back. Runs on whichever database the suite runs on.

On PostgreSQL `generations.search` walks the newest RECENT_ROWS before it asks the index
(SQLite asks it first); the tests shrink those limits so that a handful of rows takes
each path.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership, Team
from generations import search, search_index
from generations.gallery import PAGE_SIZE, Cursor, GalleryFilterForm
from generations.models import Favourite, Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def through_the_index(monkeypatch):
    """On PostgreSQL, walk only the 3 newest rows, then go to the index at once."""
    monkeypatch.setattr(search, "RECENT_ROWS", 3)
    monkeypatch.setattr(search, "WALK_ROWS", 0)


def candidates(team, text: str, cap: int = 100) -> set[int] | None:
    found = search.candidates(team.pk, text.split(), cap=cap)
    return None if found is None else set(found)


def every_page(team, user, **filters) -> list[int]:
    """Every generation the gallery shows for these filters, following its page links."""
    shown, cursor = [], ""
    while True:
        page = GalleryFilterForm(_query({**filters, "cursor": cursor}), team=team, user=user).page(size=4)
        shown += [generation.pk for generation in page.items]
        if not (cursor := page.next_cursor):
            return shown


def walked(team, user, **filters) -> list[int]:
    """The same, by a plain walk through every filtered row."""
    form = GalleryFilterForm(_query(filters), team=team, user=user)
    return list(form.filtered().values_list("pk", flat=True))


def _query(filters: dict) -> QueryDict:
    params = QueryDict(mutable=True)
    params.update({name: value for name, value in filters.items() if value})
    return params


def test_the_index_names_only_the_teams_own_generations(owner, team, outsider):
    mine = make_generation(owner, team, prompt="A paper storyboard")
    theirs = make_generation(outsider, prompt="A confidential storyboard", negative_prompt="storyboard")
    assert candidates(team, "storyboard") == {mine.pk}
    assert candidates(team, "confidential") == set()
    assert candidates(Team.objects.for_user(outsider).get(), "storyboard") == {theirs.pk}


def test_the_index_finds_inside_words_in_any_case_in_either_prompt(owner, team):
    lighthouse = make_generation(owner, team, prompt="A LIGHTHOUSE at dawn")
    blurry = make_generation(owner, team, prompt="A red fox", negative_prompt="Blurry, watermark")
    assert candidates(team, "ghthou") == {lighthouse.pk}
    assert candidates(team, "BLUR") == {blurry.pk}
    assert candidates(team, "red blurry") == {blurry.pk}  # words may come from either field
    assert candidates(team, "fox dawn") == set()  # every word must be there


def test_the_index_steps_aside_when_it_cannot_narrow_the_search(owner, team):
    for number in range(5):
        make_generation(owner, team, prompt=f"A lighthouse, take {number}")
    assert candidates(team, "lighthouse", cap=4) is None  # too many to read one by one
    assert candidates(team, "ox") is None  # shorter than a trigram
    assert candidates(team, "a.b") is None  # no three letters or digits in a row
    assert len(candidates(team, "lighthouse ox", cap=5)) == 5  # the long word narrows it


def test_a_common_word_in_one_team_never_brings_another_teams_rows(owner, team, outsider, through_the_index):
    for number in range(30):
        make_generation(outsider, prompt=f"Smooth motion, shot {number}")
    mine = [make_generation(owner, team, prompt=f"Smooth motion, take {number}") for number in range(6)]
    make_generation(owner, team, prompt="A still life")
    assert every_page(team, owner, q="motion") == [generation.pk for generation in reversed(mine)]
    assert every_page(team, owner, q="motion take") == [generation.pk for generation in reversed(mine)]
    assert every_page(team, owner, q="motion shot") == []


def test_results_come_newest_first_by_creation_time_not_by_id(owner, team, through_the_index):
    now = timezone.now()
    made = [make_generation(owner, team, prompt=f"zeppelin {n}", created_at=now - timedelta(hours=n)) for n in range(6)]
    imported = make_generation(owner, team, prompt="An old zeppelin", created_at=now - timedelta(hours=3, minutes=30))
    tie = make_generation(owner, team, prompt="Another zeppelin", created_at=made[2].created_at)  # same moment
    for number in range(8):
        make_generation(owner, team, prompt=f"Filler {number}", created_at=now - timedelta(minutes=number))
    expected = [made[0], made[1], tie, made[2], made[3], imported, made[4], made[5]]
    assert every_page(team, owner, q="zeppelin") == [generation.pk for generation in expected]


PROMPTS = ["A zeppelin over the sea", "A red fox", 'Sign says "OPEN*" -- come (in)', "A lighthouse at dawn"]
FILTERS = [
    {},
    {"status": "success"},
    {"status": "in_progress"},
    {"aspect_ratio": "9:16"},
    {"duration": "10"},
    {"favourites": "on"},
    {"status": "failed", "aspect_ratio": "1:1"},
]
TEXTS = ["zeppelin", "ZEPPELIN sea", "fox", "ox", '"open*"', "lig*", "prompt:dawn", "NEAR(lighthouse dawn)", "a"]


@pytest.mark.parametrize(
    ("cap", "walk_rows"),
    [
        (1000, 0),  # read through the index
        (2, 0),  # the index names too many: walk on
        (1000, 10**6),  # (PostgreSQL) the recent rows promise the rest soon: walk on
    ],
)
def test_every_filter_and_text_gives_what_a_plain_walk_gives(owner, team, outsider, monkeypatch, cap, walk_rows):
    monkeypatch.setattr(search, "RECENT_ROWS", 3)
    monkeypatch.setattr(search, "WALK_ROWS", walk_rows)
    monkeypatch.setattr(search, "CANDIDATES_CAP", cap)
    teammate = _teammate(team)
    rng, now = random.Random(9), timezone.now()
    for number in range(40):
        generation = make_generation(
            rng.choice([owner, teammate]),
            team,
            prompt=rng.choice(PROMPTS),
            negative_prompt=rng.choice(["", "blurry"]),
            status=rng.choice(Generation.Status.values),
            aspect_ratio=rng.choice(Generation.AspectRatio.values),
            duration=rng.choice(Generation.Duration.values),
            created_at=now - timedelta(days=rng.randint(0, 20), minutes=number),
        )
        if rng.random() < 0.3:
            Favourite.objects.create(user=owner, generation=generation)
        make_generation(outsider, prompt=rng.choice(PROMPTS))
    dates = {"created_from": (now - timedelta(days=15)).date().isoformat(), "created_to": now.date().isoformat()}
    for filters in [*FILTERS, dates, {"creator": str(teammate.pk)}]:
        for text in TEXTS:
            expected = walked(team, owner, q=text, **filters)
            assert every_page(team, owner, q=text, **filters) == expected, (text, filters)


def test_a_page_after_a_cursor_is_found_through_the_index_too(owner, team, through_the_index):
    now = timezone.now()
    zeppelins = [make_generation(owner, team, prompt="zeppelin", created_at=now - timedelta(days=n)) for n in range(9)]
    for number in range(20):
        make_generation(owner, team, prompt="sea", created_at=now - timedelta(days=number, hours=1))
    after = Cursor.after(zeppelins[2]).encode()
    form = GalleryFilterForm(_query({"q": "zeppelin", "cursor": after}), team=team, user=owner)
    assert [generation.pk for generation in form.page(size=4).items] == [z.pk for z in zeppelins[3:7]]


def test_ids_and_teams_past_what_the_sqlite_index_holds_are_still_found(owner, team, outsider, through_the_index):
    far = make_generation(owner, team, pk=search_index.ID_LIMIT + 5, prompt="A far-off zeppelin")
    near = make_generation(owner, team, prompt="A zeppelin nearby", created_at=far.created_at - timedelta(days=1))
    for number in range(5):
        make_generation(owner, team, prompt=f"Filler {number}")
    assert every_page(team, owner, q="zeppelin") == [far.pk, near.pk]

    big_team = Team.objects.create(pk=search_index.TEAM_LIMIT + 1, name="A team with a big id")
    Membership.objects.create(team=big_team, user=outsider)
    found = make_generation(outsider, big_team, prompt="A zeppelin in a big team", created_at=near.created_at)
    for number in range(5):
        make_generation(outsider, big_team, prompt=f"Filler {number}")
    assert every_page(big_team, outsider, q="zeppelin") == [found.pk]


def test_a_search_page_costs_the_same_queries_whatever_it_finds(owner, team, through_the_index):
    make_generation(owner, team, prompt="One zeppelin")
    for number in range(PAGE_SIZE + 5):
        make_generation(owner, team, prompt=f"Many balloons, {number}")
    for number in range(5):
        make_generation(owner, team, prompt=f"Neither, {number}")  # the newest rows hold no match

    def queries_for(text: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            page = GalleryFilterForm(_query({"q": text}), team=team, user=owner).page()
        assert page.items
        return len(captured)

    assert queries_for("zeppelin") == queries_for("balloons")


def test_the_index_follows_new_changed_moved_and_deleted_prompts(owner, team, outsider):
    generation = make_generation(owner, team, prompt="A zeppelin", negative_prompt="fog")
    assert candidates(team, "zeppelin") == {generation.pk}

    generation.prompt = "A hot air balloon"
    generation.save()
    assert candidates(team, "zeppelin") == set()
    assert candidates(team, "balloon") == {generation.pk}

    Generation.objects.filter(pk=generation.pk).update(negative_prompt="thunderstorm")
    assert candidates(team, "fog") == set()
    assert candidates(team, "thunder balloon") == {generation.pk}

    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.SUCCESS)  # other columns: no change
    assert candidates(team, "balloon") == {generation.pk}

    other_team = Team.objects.for_user(outsider).get()
    Generation.objects.filter(pk=generation.pk).update(team=other_team)
    assert candidates(team, "balloon") == set()
    assert candidates(other_team, "balloon") == {generation.pk}

    generation.delete()
    assert candidates(other_team, "balloon") == set()
    make_generation(owner, team, prompt="A balloon again")
    Generation.objects.filter(team=team).delete()
    assert candidates(team, "balloon") == set()


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_and_forward_keeping_what_is_there(owner, team):
    before = make_generation(owner, team, prompt="A zeppelin made before")
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("generations", "0004_fleet_poller")])
        assert _search_objects() == _objects_before_the_migration()
        during = make_generation(owner, team, prompt="A zeppelin made while it was away")
        executor = MigrationExecutor(connection)
        executor.migrate([("generations", "0005_search_index")])
    finally:
        call_command("migrate", verbosity=0)
    assert _search_objects() == _expected_search_objects()
    assert candidates(team, "zeppelin") == {before.pk, during.pk}
    after = make_generation(owner, team, prompt="A zeppelin made after")
    assert candidates(team, "zeppelin") == {before.pk, during.pk, after.pk}


@pytest.mark.django_db(transaction=True)
def test_a_table_rebuild_by_a_later_migration_does_not_leave_the_index_behind(owner, team):
    kept = make_generation(owner, team, prompt="A zeppelin kept through the rebuild")
    column = models.IntegerField(db_default=0)  # a new NOT NULL column: SQLite copies the table into a new one
    column.set_attributes_from_name("scratch")
    column.model = Generation
    with connection.schema_editor() as editor:
        editor.add_field(Generation, column)
    try:
        Generation.objects.filter(pk=kept.pk).update(prompt="A balloon kept through the rebuild")
        call_command("migrate", verbosity=0)  # what a deployment runs after any migration
        assert _search_objects() == _expected_search_objects()
        assert candidates(team, "balloon") == {kept.pk}
        assert candidates(team, "zeppelin") == set()
        made_after = make_generation(owner, team, prompt="A balloon made after")
        assert candidates(team, "balloon") == {kept.pk, made_after.pk}
    finally:
        with connection.schema_editor() as editor:
            editor.remove_field(Generation, column)
        call_command("migrate", verbosity=0)


def _teammate(team):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("tomas")
    Membership.objects.create(team=team, user=user)
    return user


def _search_objects() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE 'generation_search%%' AND type <> 'table'")
            names = {name for (name,) in cursor.fetchall()}
            cursor.execute("SELECT name FROM sqlite_master WHERE name = %s", [search_index.FTS_TABLE])
            return names | {name for (name,) in cursor.fetchall()}
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [search_index.GENERATIONS])
        indexes = {name for (name,) in cursor.fetchall() if name.endswith("_trgm")}
        cursor.execute("SELECT proname FROM pg_proc WHERE proname = %s", [search_index.PG_FUNCTION])
        return indexes | {name for (name,) in cursor.fetchall()}


def _objects_before_the_migration() -> set[str]:
    """No search index on SQLite; on PostgreSQL, a trigram index on each prompt (0003)."""
    return set() if connection.vendor == "sqlite" else {"generation_prompt_trgm", "generation_negative_prompt_trgm"}


def _expected_search_objects() -> set[str]:
    if connection.vendor == "sqlite":
        return {search_index.FTS_TABLE, *search_index.SQLITE_TRIGGERS}
    return {search_index.PG_INDEX, search_index.PG_FUNCTION}

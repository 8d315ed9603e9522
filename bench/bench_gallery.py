"""Benchmark the team gallery on SQLite and PostgreSQL: p50 and p95 of its pages and searches.

    python bench/bench_gallery.py [--rows 100000] [--teams 20] [--repeat 50] [--load 1] [--only sqlite|postgres]

Never touches the developer's database. SQLite runs in a temporary file. PostgreSQL runs in
a scratch database created for the run and dropped at the end, on the server named by
BENCH_DATABASE_URL (a postgres:// URL whose user may CREATE DATABASE) or, when that is not
set, on a throwaway cluster started here from the installed binaries (initdb and pg_ctl,
as the `postgres` user when run as root) on a free loopback port, stopped and deleted after.

Each database is measured in a fresh process of this script, so settings load once per
database. It migrates, fills --rows generations over --teams teams (team sizes fall off
like 1/rank, so the first team is the biggest: the one measured), spread over a year, with
varied status, shape, length and creator, prompts from a vocabulary, and some favourites;
then ANALYZEs. It times exactly what the gallery view runs, GalleryFilterForm(...).page(),
for the biggest team:
  1. the first page;
  2. the page after the item 5,000 deep (keyset cursor, not offset);
  3. a search for a common word, in most prompts of every team ("motion");
  4. a search for a word in a few percent of prompts ("lighthouse");
  5. a search for a rare word, about one prompt in a thousand ("zeppelin");
  6. a search for a word in half the prompts of every other team and none of this one
     ("anamorphic": common to a planner's statistics, absent here);
  7. a combined filter: done, 16:9, 5 s, one creator, a date range;
and, for the record, a word no prompt has, a common and a rare word together, a common word
with the combined filter, a common word's page 2,000 matches deep, and the team's last page
(whether a page deep down costs what the first costs). Each is run --repeat times after a
warm-up; p50 and p95 are printed against the 50 ms target, with each query's plan (EXPLAIN
QUERY PLAN on SQLite, EXPLAIN on PostgreSQL).

The machine is kept busy while the timings run: --load processes (default 1) spin on the
CPU beside the measurement, as other work would on a shared server (--load 0 for a quiet
machine). On PostgreSQL the server's process competes for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import percentile  # noqa: E402  (bench/, beside this script)

TARGET_MS = 50.0
DEPTH = 5_000
WARM_UP = 3
SEARCH_DEPTH = 2_000
CHILD_TIMEOUT = 900
CHILD_ENV, RESULT_ENV = "BENCH_GALLERY_DATABASE", "BENCH_GALLERY_RESULT"

SUBJECTS = [
    "a red fox", "an old fisherman", "a lighthouse", "a paper boat", "a neon city street", "a herd of wild horses",
    "an astronaut", "a bowl of ramen", "a steam train", "a hummingbird", "a gothic cathedral", "a jellyfish",
    "a vintage car", "a dragon kite", "a snow leopard", "a ballerina", "a robot chef", "a cherry tree in bloom",
    "a hot air balloon", "a tall sailing ship", "a wolf pack", "a desert caravan", "a koi pond", "a skateboarder",
    "a glass greenhouse", "a thunderstorm", "a waterfall", "a tiny mountain village", "a barn owl", "a marching band",
]  # fmt: skip
RARE_SUBJECT = "a zeppelin"  # about one prompt in a thousand
COMMON_ENDING = "Smooth, natural motion."  # nine prompts in ten, in every team
OTHER_TEAMS_ENDING = "Anamorphic lens flares."  # half the prompts of every team but the measured one
ACTIONS = [
    "drifting slowly", "turning towards the camera", "glowing softly", "spinning in circles", "emerging from fog",
    "running at full speed", "standing perfectly still", "rising into the air", "reflected in a puddle",
    "falling apart into petals", "lit by flashes of lightning", "casting a long shadow",
]  # fmt: skip
PLACES = [
    "at dawn", "under a full moon", "in heavy rain", "on a misty coast", "in a snowy forest", "over a calm ocean",
    "in a crowded market", "on a rooftop at night", "in an empty desert", "inside a cave of crystals",
    "in a field of sunflowers", "on a frozen lake",
]  # fmt: skip
STYLES = [
    "cinematic", "shot on 35mm film", "watercolour", "anime style", "photorealistic", "aerial drone shot",
    "slow motion", "timelapse", "tilt-shift miniature", "stop-motion clay", "black and white", "8k, highly detailed",
]  # fmt: skip
DETAILS = [
    "The camera pushes in slowly.", "Soft golden light, shallow depth of field.", "Gentle wind moves everything.",
    "Dust particles float in the light.", "The colours are muted and cold.", "Warm tones, film grain.",
    "A slow orbit around the subject.", "Handheld camera, slight shake.",
]  # fmt: skip
NEGATIVES = ["", "", "", "blurry, low quality", "watermark, text", "distorted faces, extra limbs", "oversaturated"]


# The parent: one throwaway database at a time, each measured by a child process.


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="generations in all (default 100000)")
    parser.add_argument("--teams", type=int, default=20, help="teams they are spread over (default 20)")
    parser.add_argument("--repeat", type=int, default=50, help="timed runs of each query (default 50)")
    parser.add_argument("--load", type=int, default=1, help="processes spinning beside the timings (default 1)")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="measure one database only")
    args = parser.parse_args()
    if args.rows < 1000 or args.teams < 1 or args.repeat < 1 or args.load < 0:
        parser.error("--rows must be at least 1000, --teams and --repeat at least 1, --load at least 0")
    if database := os.environ.get(CHILD_ENV):
        return measure_database(database, args)

    summaries, failed = [], False
    for database in ["sqlite", "postgres"]:
        if args.only in (None, database):
            try:
                summary = run_sqlite(args) if database == "sqlite" else run_postgres(args)
            except Skipped as skipped:
                print(f"\nPostgreSQL skipped: {skipped}", flush=True)
                continue
            except CannotRun as exc:
                print(f"\nPostgreSQL failed: {exc}", flush=True)
                failed = True
                continue
            failed |= summary is None
            summaries += [summary] if summary else []
    if summaries:
        print(f"\nSummary: p50 / p95 in ms, target p95 < {TARGET_MS:.0f} ms; {load_description(args.load)}")
        for summary in summaries:
            print(f"  {summary['database']}")
            for row in summary["rows"]:
                print(f"    {row['name']:<34} {row['p50']:7.2f} / {row['p95']:7.2f}  {verdict(row['p95'])}")
    return 1 if failed else 0


class Skipped(Exception):
    """PostgreSQL is not installed here; the message says what is missing."""


class CannotRun(Exception):
    """The PostgreSQL given or found cannot be used; the message says why."""


def run_sqlite(args) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="bench-gallery-sqlite-") as directory:
        return run_child("sqlite", f"sqlite:///{directory}/bench.sqlite3", args)


def run_postgres(args) -> dict | None:
    if server := os.environ.get("BENCH_DATABASE_URL"):
        if not server.startswith(("postgres://", "postgresql://")):
            raise CannotRun(f"BENCH_DATABASE_URL must be a postgres:// URL, not {urlsplit(server).scheme}://…")
        with scratch_database(server) as url:
            return run_child("postgres", url, args)
    with local_cluster() as server, scratch_database(server) as url:
        return run_child("postgres", url, args)


def run_child(database: str, url: str, args) -> dict | None:
    """Measure `database` at `url` in a fresh process, production-like (DEBUG off)."""
    with tempfile.NamedTemporaryFile(prefix="bench-gallery-", suffix=".json") as result:
        env = {
            **os.environ,
            CHILD_ENV: database,
            RESULT_ENV: result.name,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "kling_studio.settings",
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(32),
        }
        command = [sys.executable, __file__, f"--rows={args.rows}", f"--teams={args.teams}", f"--repeat={args.repeat}"]
        command.append(f"--load={args.load}")
        completed = subprocess.run(command, env=env, cwd=ROOT, timeout=CHILD_TIMEOUT, check=False)
        if completed.returncode != 0:
            print(f"\n{database}: the benchmark process failed (exit {completed.returncode})", flush=True)
            return None
        return json.loads(Path(result.name).read_text())


@contextmanager
def scratch_database(server_url: str):
    """A database of its own on `server_url`'s server, dropped afterwards."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise Skipped("psycopg is not installed in this Python") from None
    name = f"bench_gallery_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise CannotRun(f"could not create a scratch database on the server: {exc}".strip()) from None
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def local_cluster():
    """The same throwaway cluster the tests use on PostgreSQL (kling_studio.localservices)."""
    from kling_studio.localservices import PostgresUnavailable, throwaway_postgres

    try:
        with throwaway_postgres() as url:
            print(f"\nStarted a throwaway PostgreSQL cluster at {url}", flush=True)
            yield url
    except PostgresUnavailable as exc:
        raise Skipped(f"BENCH_DATABASE_URL is not set and {exc}") from None
    except RuntimeError as exc:
        raise CannotRun(str(exc)) from None


def load_description(load: int) -> str:
    if not load:
        return "no CPU load added"
    spinning = f"{load} process{'es' if load > 1 else ''} spinning on the CPU"
    return f"busy: {spinning} beside the timings ({os.cpu_count()} cores)"


@contextmanager
def cpu_load(processes: int):
    """Keep `processes` cores busy, as other work on a shared machine would."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.5 if spinners else 0)  # running before the first timing
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def verdict(p95: float) -> str:
    return "PASS" if p95 < TARGET_MS else f"OVER TARGET ({TARGET_MS:.0f} ms)"


# The child: fill one database and time the gallery's own code against it.


def measure_database(database: str, args) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    label = f"SQLite {connection.Database.sqlite_version}" if database == "sqlite" else "PostgreSQL"
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    if database == "postgres":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            label = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    print(f"\n=== {label} ===\nmigrated in {time.perf_counter() - started:.1f} s", flush=True)

    started = time.perf_counter()
    team, owner, creator = fill(args.rows, args.teams)
    analyze = "VACUUM ANALYZE" if database == "postgres" else "ANALYZE"
    with connection.cursor() as cursor:
        cursor.execute(analyze)
    team_rows = team.generations.count()
    print(
        f"filled {args.rows:,} generations over {args.teams} teams in {time.perf_counter() - started:.1f} s "
        f"(with {analyze}); measuring {team.name}, the biggest: {team_rows:,} generations",
        flush=True,
    )

    rows, plans = [], []
    cases = [(name, urlencode(data)) for name, data in scenarios(team, owner, creator)]
    print(f"{load_description(args.load)}; load average {os.getloadavg()[0]:.2f} before", flush=True)
    with cpu_load(args.load):
        timings = time_pages([form_data for _, form_data in cases], team, owner, args.repeat)
        print(f"load average {os.getloadavg()[0]:.2f} after the timings", flush=True)
        for (name, form_data), case_timings in zip(cases, timings, strict=True):
            items = check_page(form_data, team, owner)
            p50, p95 = statistics.median(case_timings), percentile(case_timings, 95)
            rows.append({"name": name, "query": form_data, "items": items, "p50": p50, "p95": p95})
            plans.append((name, form_data, explain_page(form_data, team, owner)))
        rows.append(time_estimates(team, args.repeat))

    print(f"\n{'query':<34} {'GET parameters':<64} {'items':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for row in rows:
        print(
            f"{row['name']:<34} {row['query'][:64]:<64} {row['items']:>5} {row['p50']:>8.2f} {row['p95']:>8.2f}  "
            f"{verdict(row['p95'])}"
        )
    print(
        f"({args.repeat} timed runs each after {WARM_UP} warm-up runs, the cases taken in turn so that a change in "
        "the machine's load falls on all alike; form + page(), as the view runs them)"
    )
    for name, form_data, plan in plans:
        print(f"\n-- plan: {name} ({form_data})\n{plan}")
    Path(os.environ[RESULT_ENV]).write_text(json.dumps({"database": label, "rows": rows}))
    return 0


def scenarios(team, owner, creator):
    from generations.gallery import PAGE_SIZE, Cursor, GalleryFilterForm

    today = time_now().date()
    newest_first = GalleryFilterForm({}, team=team, user=owner).filtered()
    total = newest_first.count()
    depth, last = min(DEPTH, total - 1), max(1, total - PAGE_SIZE)
    combined = {
        "status": "success",
        "aspect_ratio": "16:9",
        "duration": "5",
        "creator": creator.pk,
        "created_from": (today - timedelta(days=270)).isoformat(),
        "created_to": (today - timedelta(days=90)).isoformat(),
    }
    common = GalleryFilterForm({"q": "motion"}, team=team, user=owner).filtered()
    search_depth = min(SEARCH_DEPTH, common.count() - 1)
    return [
        ("first page", {}),
        (f"page {depth:,} items deep", {"cursor": Cursor.after(newest_first[depth - 1]).encode()}),
        ('search, common "motion"', {"q": "motion"}),
        ('search "lighthouse"', {"q": "lighthouse"}),
        ('search, rare "zeppelin"', {"q": "zeppelin"}),
        ('search, other teams\' "anamorphic"', {"q": "anamorphic"}),
        ("combined filter", combined),
        ('(extra) search, no match "xylophone"', {"q": "xylophone"}),
        ('(extra) search "motion zeppelin"', {"q": "motion zeppelin"}),
        ('(extra) "motion" + combined filter', {"q": "motion", **combined}),
        (
            f'(extra) "motion", {search_depth:,} deep',
            {"q": "motion", "cursor": Cursor.after(common[search_depth - 1]).encode()},
        ),
        (f"(extra) last page, {last:,} deep", {"cursor": Cursor.after(newest_first[last - 1]).encode()}),
    ]


def time_pages(queries: list[str], team, user, repeat: int) -> list[list[float]]:
    """Time the view's work for each query string: bind the form to it, then page()."""
    from django.http import QueryDict

    from generations.gallery import GalleryFilterForm

    timings = [[] for _ in queries]
    for run in range(WARM_UP + repeat):
        for query, case_timings in zip(queries, timings, strict=True):
            started = time.perf_counter()
            GalleryFilterForm(QueryDict(query), team=team, user=user).page()
            if run >= WARM_UP:
                case_timings.append((time.perf_counter() - started) * 1000)
    return timings


def check_page(form_data: str, team, user) -> int:
    """The page must be exactly what a plain walk through the filtered rows gives."""
    from django.http import QueryDict

    from generations.gallery import GalleryFilterForm

    page = GalleryFilterForm(QueryDict(form_data), team=team, user=user).page()
    form = GalleryFilterForm(QueryDict(form_data), team=team, user=user)
    walked = form.filtered()
    if cursor := form.cleaned_data.get("cursor"):
        walked = walked.older_than(cursor.created_at, cursor.pk)
    if list(walked.values_list("pk", flat=True)[: len(page.items)]) != [g.pk for g in page.items]:
        raise AssertionError(f"page() does not give what a plain walk gives for {form_data!r}")
    return len(page.items)


def explain_page(form_data: str, team, user) -> str:
    """The plan of every query one page() runs; for the PostgreSQL search index's function,
    the plan of the query inside it, under the function's own setting."""
    from django.db import connection, transaction
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from generations.gallery import GalleryFilterForm
    from generations.search_index import PG_CANDIDATES, PG_FUNCTION

    with CaptureQueriesContext(connection) as captured:
        GalleryFilterForm(QueryDict(form_data), team=team, user=user).page()
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if f"SELECT {PG_FUNCTION}(" in sql:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"PREPARE candidates(bigint, text[], integer) AS {PG_CANDIDATES}")
                cursor.execute(f"EXPLAIN EXECUTE candidates{sql.split(PG_FUNCTION, 1)[1]}")
            else:
                cursor.execute(explain + sql)
            plan = "\n".join("  " + " ".join(str(part) for part in row) for row in cursor.fetchall())
            plans.append(f"{sql[:150]}{'…' if len(sql) > 150 else ''}\n{plan}")
        transaction.set_rollback(True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
    return "\n".join(plans)


def time_now():
    from django.utils import timezone

    return timezone.now()


def time_estimates(team, repeat: int) -> dict:
    """The estimates a page with in-progress cards looks up once ("usually ready in about 2 min")."""
    from generations import estimates

    timings = []
    for run in range(WARM_UP + repeat):
        started = time.perf_counter()
        found = estimates.typical_durations(team)
        if run >= WARM_UP:
            timings.append((time.perf_counter() - started) * 1000)
    p50, p95 = statistics.median(timings), percentile(timings, 95)
    name, query = "in-progress cards' estimates", "(every duration)"
    return {"name": name, "query": query, "items": len(found), "p50": p50, "p95": p95}


def fill(total: int, team_count: int):
    """Teams of 3-6 members, `total` generations newest last (pks follow time), favourites.

    Returns the biggest team, its owner (the person browsing) and another member of it.
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from accounts.models import Membership, Team
    from generations.models import Favourite, Generation

    rng = random.Random(2026)
    now = time_now()
    User = get_user_model()
    with transaction.atomic():
        Team.objects.bulk_create(
            Team(name=f"Team {t + 1:02}", created_at=now - timedelta(days=400)) for t in range(team_count)
        )
        teams = list(Team.objects.order_by("pk"))
        sizes = [3 + i % 4 for i in range(team_count)]
        User.objects.bulk_create(
            User(username=f"t{t + 1:02}-member{m + 1}", password="!")
            for t in range(team_count)
            for m in range(sizes[t])
        )
        users = {u.username: u for u in User.objects.all()}
        members = [[users[f"t{t + 1:02}-member{m + 1}"] for m in range(sizes[t])] for t in range(team_count)]
        Membership.objects.bulk_create(
            Membership(team=teams[t], user=member, role="owner" if m == 0 else "member")
            for t in range(team_count)
            for m, member in enumerate(members[t])
        )

        # Team sizes fall off like 1/rank; the first one gets about a quarter of the rows.
        team_of = rng.choices(range(team_count), weights=[1 / (t + 1) for t in range(team_count)], k=total)
        ages = sorted((rng.uniform(0, 365 * 86400) for _ in range(total)), reverse=True)
        batch = []
        for i, (t, age) in enumerate(zip(team_of, ages, strict=True)):
            created_by = rng.choices(members[t], weights=[5, 3, 2, 1, 1, 1][: len(members[t])])[0]
            created_at, recent = now - timedelta(seconds=age), age < 7200
            batch.append(generation(rng, i, teams[t], created_by, created_at, recent=recent, measured=t == 0))
            if len(batch) == 2000:
                Generation.objects.bulk_create(batch)
                batch = []
        Generation.objects.bulk_create(batch)

        favourites = []
        for t, team in enumerate(teams):
            ids = list(team.generations.values_list("pk", flat=True))
            for member, share in zip(members[t][:2], (0.02, 0.01), strict=False):
                picked = rng.sample(ids, int(len(ids) * share))
                favourites += [Favourite(user=member, generation_id=pk) for pk in picked]
        Favourite.objects.bulk_create(favourites, batch_size=2000)
    return teams[0], members[0][0], members[0][1]


def generation(rng: random.Random, i: int, team, created_by, created_at, recent: bool, measured: bool):
    from generations.models import Generation

    Status = Generation.Status
    subject = RARE_SUBJECT if rng.random() < 0.001 else rng.choice(SUBJECTS)
    prompt = f"{subject[0].upper()}{subject[1:]} {rng.choice(ACTIONS)} {rng.choice(PLACES)}, {rng.choice(STYLES)}. "
    prompt += " ".join(rng.sample(DETAILS, rng.randint(0, 3)))
    if rng.random() < 0.9:
        prompt += f" {COMMON_ENDING}"
    if not measured and rng.random() < 0.5:
        prompt += f" {OTHER_TEAMS_ENDING}"
    if recent:  # only the last two hours' generations can still be at work
        status = rng.choice([Status.PENDING, Status.SUBMITTING, Status.QUEUED, Status.PROCESSING, Status.SUCCESS])
    else:
        status = rng.choices([Status.SUCCESS, Status.FAILED, Status.CANCELLED], weights=[86, 9, 5])[0]
    sent = status not in (Status.PENDING, Status.SUBMITTING)
    done = status == Status.SUCCESS
    finished = status in Generation.FINAL
    return Generation(
        team=team,
        created_by=created_by,
        prompt=prompt.strip(),
        negative_prompt=rng.choice(NEGATIVES),
        duration=rng.choices(["5", "10"], weights=[7, 3])[0],
        aspect_ratio=rng.choices(["16:9", "9:16", "1:1"], weights=[55, 30, 15])[0],
        cfg_scale=round(rng.uniform(0.2, 0.9), 1),
        status=status,
        failure_reason="The video service reported that the generation failed." if status == Status.FAILED else "",
        request_id=f"bench-{i:07}" if sent else None,
        video_url=f"https://media.example.com/{i:07}/video.mp4" if done else "",
        thumbnail_url=f"https://media.example.com/{i:07}/thumbnail.jpg" if done else "",
        video=f"generations/bench/{i:07}.mp4" if done else "",
        thumbnail=f"generations/bench/{i:07}.jpg" if done else "",
        created_at=created_at,
        claimed_at=created_at if status != Status.PENDING else None,
        submitted_at=created_at + timedelta(seconds=2) if sent else None,
        processing_at=created_at + timedelta(seconds=20) if done else None,
        finished_at=created_at + timedelta(seconds=rng.randint(60, 240)) if finished else None,
        submit_attempts=1 if status != Status.PENDING else 0,
        poll_count=rng.randint(3, 12) if sent else 0,
    )


if __name__ == "__main__":
    sys.exit(main())

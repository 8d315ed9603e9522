"""Scale-out: the studio as on several machines. Two web processes (uvicorn), two Celery workers
and beat, each a separate process in an empty directory of its own (working directory,
MEDIA_ROOT, TMPDIR), sharing nothing but PostgreSQL, Redis and the S3 bucket.

A person signs up and makes a video through the first web; either worker stores it in the
bucket; the second web, which never saw her sign up, sends her player to the bucket, whose
bytes decode to the shape she asked for. No process keeps a file of its own. And `/health/`
of each web goes 503 when Redis stops, 200 when it is back.

On both runs of the suite (SQLite and PostgreSQL) the processes share a throwaway PostgreSQL
of their own, started and migrated here: the machines of a fleet share one database server.
"""

from __future__ import annotations

import io
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import pytest
import requests

from kling_studio.localservices import BASE_DIR, throwaway_postgres
from kling_studio.seaweedfs import LocalS3
from tests.conftest import WORKER_SETTINGS, RedisServer, submissions, trusting_the_emulator, wait_for
from tests.fleet import Fleet, StudioProcess, WebProcess, collect_static, machine_environment

pytestmark = pytest.mark.integration

PASSWORD = "a long enough password 4071"
PROMPT = "A paper boat on a rain-filled gutter, seen from above"
DOWN_WITHIN, UP_AGAIN_WITHIN = 10.0, 30.0  # seconds, the bounds for /health/


@dataclass
class Deployment:
    fleet: Fleet
    web1: WebProcess
    web2: WebProcess
    workers: list[StudioProcess]
    redis: RedisServer
    s3: LocalS3
    bucket: str

    def within(self, seconds: float, condition: Callable[[], object], message: str) -> object:
        """`condition`'s first true answer within `seconds`; else a failure showing every process's output."""
        try:
            return wait_for(condition, timeout=seconds, message=message)
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{self.fleet.outputs()}")

    def keys_in_bucket(self, prefix: str) -> set[str]:
        """What the bucket holds, looked at with boto3, past the studio's code."""
        listing = self.s3.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {entry["Key"] for entry in listing.get("Contents", [])}

    def lines_of(self, process: StudioProcess, message: str) -> list[dict]:
        return [line for line in process.log_lines() if str(line.get("message", "")).startswith(message)]


@pytest.fixture(scope="module")
def redis(tmp_path_factory) -> Iterator[RedisServer]:
    """A Redis for this fleet alone: no worker of another test (on the session's Redis) takes its tasks."""
    server = RedisServer(tmp_path_factory.mktemp("scale-out-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bucket(s3_server) -> str:
    name = f"scale-out-{secrets.token_hex(4)}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, emulator, certificate, s3_server, bucket, redis) -> Iterator[Deployment]:
    emulator.reset()
    root = tmp_path_factory.mktemp("scale-out")
    with throwaway_postgres() as database_url:
        env = machine_environment(
            {
                "DEBUG": "False",
                "SECRET_KEY": secrets.token_urlsafe(40),  # the same on every machine: sessions are signed with it
                "ALLOWED_HOSTS": "127.0.0.1",
                "ALLOW_SIGNUP": "True",  # the test signs a person up; production studios are invitation-only
                "SECURE_COOKIES": "False",  # plain HTTP here; behind a TLS proxy it stays True
                "DATABASE_URL": database_url,
                "REDIS_URL": redis.url,
                **s3_server.environment(),
                "AWS_STORAGE_BUCKET_NAME": bucket,
                "GMI_API_BASE_URL": emulator.base_url,
                "GMI_API_KEY": emulator.api_key,
                "CELERY_VISIBILITY_TIMEOUT": "300",
                **{
                    name: str(value)
                    for name, value in {**WORKER_SETTINGS, **trusting_the_emulator(certificate)}.items()
                },
            }
        )
        fleet, release = Fleet(root, env), root / "release-static"
        collecting = collect_static(release, env)  # meanwhile, the one-off migration, as a deployment runs it
        try:
            migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
            migrated = subprocess.run(
                migrate, cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False, timeout=180
            )
            assert migrated.returncode == 0, migrated.stderr
            assert collecting.wait(120) == 0, "collectstatic failed"

            web1, web2 = fleet.web("web1", release), fleet.web("web2", release)
            workers = [fleet.worker("worker1"), fleet.worker("worker2")]
            fleet.beat()
            deployment = Deployment(fleet, web1, web2, workers, redis, s3_server, bucket)
            for web in (web1, web2):
                web.wait_until_listening()
            for worker in workers:
                worker.wait_for_output("ready.")
            for web in (web1, web2):
                deployment.within(60, lambda web=web: health(web, 200), f"{web.name}'s /health/ to say 200")
            yield deployment
        finally:
            collecting.kill()  # ended long before, unless something failed early
            collecting.wait()
            fleet.stop()


def health(web: WebProcess, status: int) -> dict | None:
    """The web's /health/ report when its status is `status`, else None."""
    answer = requests.get(f"{web.url}/health/", timeout=30)
    return answer.json() if answer.status_code == status else None


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def sign_up(person: requests.Session, web: WebProcess, username: str) -> None:
    form = person.get(f"{web.url}/accounts/signup/", timeout=30)
    fields = {"username": username, "email": f"{username}@example.com", "password1": PASSWORD, "password2": PASSWORD}
    answer = person.post(form.url, data={"csrfmiddlewaretoken": csrf_token(form.text), **fields}, timeout=30)
    assert (answer.status_code, answer.url) == (200, f"{web.url}/"), answer.text[-2000:]


def create(person: requests.Session, web: WebProcess, **fields: str) -> int:
    """Post the create form as a browser without JavaScript does; the new generation's id."""
    page = person.get(f"{web.url}/", timeout=30)
    form = {"csrfmiddlewaretoken": csrf_token(page.text), "negative_prompt": "", "cfg_scale": "0.5", **fields}
    answer = person.post(f"{web.url}/", data=form, allow_redirects=False, timeout=30)
    assert (answer.status_code, answer.headers.get("Location")) == (302, "/"), answer.text[-2000:]
    return int(re.search(r"/generations/(\d+)/", person.get(f"{web.url}/", timeout=30).text).group(1))


def decoded_frames(video: bytes) -> tuple[list[tuple[int, int]], float]:
    """The (width, height) of every frame, and the seconds they last."""
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        sizes = [(frame.width, frame.height) for frame in container.decode(stream)]
        return sizes, float(len(sizes) / stream.average_rate)


def test_a_video_made_through_one_web_is_stored_by_a_worker_and_played_through_the_other(deployment, emulator):
    web1, web2 = deployment.web1, deployment.web2
    maria = requests.Session()
    sign_up(maria, web1, "maria")
    pk = create(maria, web1, prompt=PROMPT, aspect_ratio="9:16", duration="5")

    # The second web knows her: the session is in the shared database, signed with the shared key.
    detail = maria.get(f"{web2.url}/generations/{pk}/", allow_redirects=False, timeout=30)
    assert detail.status_code == 200 and PROMPT in detail.text

    def status_on_the_second_web() -> str | None:
        card = maria.get(f"{web2.url}/generations/{pk}/card/", timeout=30).text
        status = re.search(r'data-status="(\w+)"', card).group(1)
        return status if status in ("success", "failed", "cancelled") else None

    assert deployment.within(90, status_on_the_second_web, f"generation {pk} to finish") == "success"
    answer = maria.get(f"{web2.url}/generations/{pk}/video.mp4", allow_redirects=False, timeout=30)
    assert answer.status_code == 302, (answer.status_code, deployment.fleet.outputs())
    link = answer.headers["Location"]
    assert link.startswith(f"{deployment.s3.endpoint_url}/{deployment.bucket}/generations/{pk}/")
    assert "X-Amz-Signature=" in link and "X-Amz-Expires=3600" in link
    video = requests.get(link, timeout=60)  # a bare request, as a browser's player: the link is the key
    assert (video.status_code, video.headers["Content-Type"]) == (200, "video/mp4")
    sizes, seconds = decoded_frames(video.content)
    assert sizes and set(sizes) == {(720, 1280)}  # 9:16, as asked
    assert seconds == pytest.approx(5, abs=0.1)

    # Either worker may have done each step, and exactly one did; the API was asked once.
    stored_by = [w.name for w in deployment.workers if deployment.lines_of(w, f"Generation {pk} stored")]
    sent_by = [w.name for w in deployment.workers if deployment.lines_of(w, f"Generation {pk} sent as request")]
    print(f"generation {pk}: sent by {sent_by}, stored by {stored_by}")
    assert len(stored_by) == 1 and len(sent_by) == 1, deployment.fleet.outputs()
    assert submissions(emulator, PROMPT) == 1

    # The files are in the bucket, and on no process's disk.
    assert deployment.keys_in_bucket(f"generations/{pk}/") == {
        f"generations/{pk}/video.mp4",
        f"generations/{pk}/thumbnail.jpg",
    }
    for process in deployment.fleet.processes:
        assert process.files_in_media_root() == [], process.name
    for worker in deployment.workers:
        assert [path for path in worker.tmp.rglob("*") if path.is_file()] == [], worker.name
    (storer,) = (worker for worker in deployment.workers if worker.name in stored_by)
    assert (storer.tmp / "kling-studio-downloads").is_dir()  # it downloaded into its own TMPDIR, and cleaned up


def test_each_webs_health_is_503_while_redis_is_down_and_200_once_it_is_back(deployment):
    webs = [deployment.web1, deployment.web2]
    for web in webs:
        deployment.within(60, lambda web=web: health(web, 200), f"{web.name} to be healthy")
    deployment.redis.stop()
    try:
        stopped = time.monotonic()
        for web in webs:
            body = deployment.within(DOWN_WITHIN, lambda web=web: health(web, 503), f"{web.name} to say 503")
            print(f"{web.name}: 503 {time.monotonic() - stopped:.1f} s after Redis stopped")
            assert time.monotonic() - stopped <= DOWN_WITHIN
            components = body["components"]
            assert components["redis"]["status"] == "down" and components["worker"]["status"] == "down"
            assert components["database"]["status"] == "up" and components["storage"]["status"] == "up"
    finally:
        deployment.redis.start()
    started = time.monotonic()
    for web in webs:
        deployment.within(UP_AGAIN_WITHIN, lambda web=web: health(web, 200), f"{web.name} to be healthy again")
        print(f"{web.name}: 200 {time.monotonic() - started:.1f} s after Redis started")
        assert time.monotonic() - started <= UP_AGAIN_WITHIN

import os

import redis
from celery import Celery, bootsteps, signals
from kombu.transport import redis as kombu_redis

from kling_studio import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kling_studio.settings")


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, which says "connection lost" when its connection is gone.

    In celery 5.7.0 / kombu 5.7.0, after Redis restarts the worker drops the lost
    connection's transport while a channel of it still has late-acknowledged messages:
    closing that channel (to give them back) or acknowledging one of them then looks up
    the dropped transport and raises AttributeError ('NoneType' object has no attribute
    'hostname'), which nothing catches, and the worker ends with "Unrecoverable error".
    A connection error is what it is: Celery ignores it there and reconnects, and Redis
    gives the unacknowledged messages back after the visibility timeout.
    """

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


app = Celery("kling_studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# The worker and beat log through the studio's LOGGING (JSON in production, with each line's
# generation and team), and each task starts with no log context left from the one before.
signals.setup_logging.connect(observability.configure_celery_logging, weak=False)
signals.task_prerun.connect(observability.start_task_context, weak=False)


class AliveSignal(bootsteps.StartStopStep):
    """Says "this worker is alive" for /health/ every ALIVE_INTERVAL seconds, from the worker's
    own event loop (its timer), not a pool slot: a worker whose every slot waits on a slow API
    still says it, and a dead or stuck one stops saying it."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.entry = None

    def start(self, worker) -> None:
        from kling_studio.health import ALIVE_INTERVAL, record_worker_alive

        record_worker_alive()
        self.entry = worker.timer.call_repeatedly(ALIVE_INTERVAL, record_worker_alive)

    def stop(self, worker) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None


app.steps["worker"].add(AliveSignal)

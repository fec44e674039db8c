"""webhooks_chaos: no event is lost while the delivery worker is SIGKILLed and Redis restarts.

`size` events (default 20,000) are published in committed batches over ~20 s while the
Celery worker (its whole process group) is killed with SIGKILL five times and restarted
(kill k once k/7 of the events have arrived, so every kill hits a worker in
the middle of delivering), and the bench's own redis-server (never the system one) is killed
and restarted once, losing every queued kick. Celery beat runs the `webhooks: sweep` job from the database
(as deployed), which is what finds work whose kick was lost. Then we wait until every
event's webhook-id has reached the local receiver.

Figures: events, received_unique, lost (goal 0), duplicates (receipts beyond the first per
webhook-id: at-least-once delivery after a kill mid-batch), recovery_s (last publish to
last first-receipt).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

DEFAULT_SIZE = 20_000
PUBLISH_SECONDS = 20
KILLS = 5

_spec = importlib.util.spec_from_file_location("bench_webhooks_helpers", Path(__file__).with_name("webhooks.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def run(*, size: int, progress) -> dict:
    redis = helpers.OwnRedis()
    receiver = helpers.Receiver()
    worker = beat = None
    events: list = []
    try:
        with helpers.use_redis(redis.url):
            # Short sweep interval for the run (the job is editable in admin like this).
            from django_celery_beat.models import IntervalSchedule, PeriodicTask

            interval, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
            PeriodicTask.objects.filter(task="enhancements.webhooks.tasks.sweep").update(interval=interval)

            clients = helpers.make_endpoints(receiver.url, merchants=10, timeout_s=2)
            worker = helpers.CeleryProcess("worker", redis.url)
            beat = helpers.CeleryProcess("beat", redis.url)
            progress(f"publishing {size:,} events over ~{PUBLISH_SECONDS}s; {KILLS} worker SIGKILLs and one Redis restart")
            chunk = max(1, size // (PUBLISH_SECONDS * 10))
            # Each kill hits a worker that is delivering: kill k happens once k/(KILLS+2) of the
            # events have arrived; Redis restarts between kills 2 and 3.
            kill_at = [size * (k + 1) / (KILLS + 2) for k in range(KILLS)]
            redis_restart_at = size * 2.5 / (KILLS + 2)
            t0 = time.monotonic()
            published = kills = 0
            redis_restarted = False
            received = 0
            last_stats = last_progress = time.monotonic()
            while published < size or kills < KILLS or not redis_restarted:
                now = time.monotonic()
                if now - last_stats >= 0.2:
                    count = receiver.stats()["unique"]
                    if count != received:
                        received, last_progress = count, now
                    last_stats = now
                    if now - last_progress > 180:
                        raise RuntimeError(f"no delivery progress for 180 s at {received:,} received")
                if kills < KILLS and received >= kill_at[kills]:
                    worker.kill()
                    kills += 1
                    progress(f"SIGKILL #{kills} of the worker at {now - t0:.1f}s ({received:,} received so far)")
                    worker.start()
                if not redis_restarted and received >= redis_restart_at:
                    redis.restart()
                    redis_restarted = True
                    progress(f"redis-server killed and restarted at {now - t0:.1f}s ({received:,} received; queued kicks lost)")
                if published < size and now - t0 >= published / size * PUBLISH_SECONDS:
                    count = min(chunk, size - published)
                    for attempt in range(50):  # the producer's own transaction must not depend on Redis
                        try:
                            helpers.publish_events(clients, start=published, count=count, prefix="C")
                            break
                        except Exception as exc:  # noqa: BLE001 - report and retry, as a producer would
                            progress(f"publish retry ({type(exc).__name__}: {exc})")
                            time.sleep(0.2)
                    published += count
                time.sleep(0.01)
            last_publish = time.monotonic()
            progress(f"published {published:,}; waiting for every event to arrive")
            stats = helpers.wait_for(receiver, size, timeout=600, progress=progress, label="chaos")
            recovery = time.monotonic() - last_publish
            expected = set(helpers.msg_ids_for("C").values())
    finally:
        for proc in (beat, worker):
            if proc:
                proc.stop()
        received = receiver.stop()
        redis.close()
    ids = [m for m, _ in received]
    unique = set(ids)
    return {
        "events": size,
        "received_unique": len(unique & expected),
        "lost": len(expected - unique),
        "duplicates": len(ids) - len(unique),
        "worker_kills": KILLS,
        "redis_restarts": 1,
        "recovery_s": round(recovery, 1),
        "final_stats": stats,
    }

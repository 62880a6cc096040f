"""The worker sample, run as its image runs it, against SQS on moto and the config agent."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from devtools.wait import wait_for
from samples import contract
from samples.worker import jobs
from samples.worker.worker import Backoff
from tests.samples.proc import AGENT_STUB_ENV, assert_invalid_settings, refused_agent_url

PROFILE = b'{"batch_size": 10}'
QUEUE_URL = "https://sqs.us-west-2.amazonaws.com/123456789012/dev-worker-jobs"
FAST = {"WORKER_WAIT_TIME_SECONDS": "2"}
"""Shorter long polls, so SIGTERM (which waits for the poll in flight) returns quickly."""


def _job(numbers: list[float], work_seconds: float = 0, job_id: str | None = None) -> str:
    return json.dumps(
        {"job_id": job_id or uuid.uuid4().hex[:8], "numbers": numbers, "work_seconds": work_seconds}
    )


def _spawn(worker_image, car, queue: str, heartbeat, **extra: str):
    env = {
        **car.app_env,
        "WORK_QUEUE_URL": queue,
        "WORKER_HEARTBEAT_FILE": str(heartbeat),
        **FAST,
        **extra,
    }
    return worker_image.spawn(**env), env


def _dlq_count(aws, dlq: str) -> int:
    return aws.queue_counts(dlq)[0]


def test_worker_health_check_is_the_contract_command(worker_image):
    assert ["CMD", *worker_image.image.healthcheck] == list(contract.WORKER_HEALTH_CHECK_COMMAND)


def test_worker_processes_and_deletes_jobs_and_follows_batch_size(
    aws, sidecar, worker_image, tmp_path
):
    car = sidecar(PROFILE)
    queue, _ = aws.queue()
    heartbeat = tmp_path / "heartbeat"
    proc, env = _spawn(worker_image, car, queue, heartbeat)
    try:
        proc.wait_record("started")
        assert proc.wait_record("batch size")[0]["batch_size"] == 10
        for numbers in ([1, 2], [3.5, 4], []):
            aws.send(queue, _job(numbers))
        done = proc.wait_record("job done", count=3)
        assert sorted(r["result"] for r in done) == [0, 3, 7.5]
        wait_for(lambda: aws.queue_counts(queue) == (0, 0), what="jobs deleted")
        assert worker_image.health_check(**env).returncode == 0
        _stuck_loop_fails_the_health_check_until_it_beats_again(proc, worker_image, env)

        car.deploy(b'{"batch_size": 3}')
        aws.send(queue, _job([1]))  # wakes the poll, so the next one reads the new size
        wait_for(
            lambda: [r["batch_size"] for r in proc.records("batch size")] == [10, 3],
            what="new batch size read through the agent",
        )
        assert proc.sigterm() == 0
    finally:
        proc.reap()
    assert proc.records("stopped")
    heartbeat.unlink()
    result = worker_image.health_check(**env)
    assert result.returncode == 1 and "no heartbeat" in result.stdout


def _stuck_loop_fails_the_health_check_until_it_beats_again(proc, image, env) -> None:
    """A frozen process stands for a loop stuck in a call or a job: it cannot beat."""
    heartbeat = Path(env["WORKER_HEARTBEAT_FILE"])
    proc.popen.send_signal(signal.SIGSTOP)
    try:
        stale = time.time() - 3600
        os.utime(heartbeat, (stale, stale))
        result = image.health_check(**env)
        assert result.returncode == 1 and "stale" in result.stdout
    finally:
        proc.popen.send_signal(signal.SIGCONT)
    # The loop beats again once its poll in flight returns (WORKER_WAIT_TIME_SECONDS).
    wait_for(
        lambda: image.health_check(**env).returncode == 0,
        interval=0.2,
        what="heartbeat refreshed by the running loop",
    )


def test_worker_poison_message_ends_in_the_dlq_and_good_jobs_still_run(
    aws, sidecar, worker_image, tmp_path
):
    car = sidecar(PROFILE)
    queue, dlq = aws.queue(max_receive_count=2)
    aws.sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    poison = "not-json-" + os.urandom(4).hex()
    aws.send(queue, poison)
    aws.send(queue, _job([2, 2], job_id="good"))
    proc, _ = _spawn(worker_image, car, queue, tmp_path / "hb")
    try:
        wait_for(lambda: _dlq_count(aws, dlq) == 1, timeout=30, what="poison in the DLQ")
        assert proc.wait_record("job done")[0]["job_id"] == "good"
        wait_for(lambda: aws.queue_counts(queue) == (0, 0), what="queue empty")
        body = aws.sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"]
        assert body == poison
        assert proc.sigterm() == 0
    finally:
        proc.reap()
    # maxReceiveCount deliveries, each refused and left alone; SQS moved it on the next receive.
    rejected = proc.records("job rejected; left for redelivery")
    assert [r["receive_count"] for r in rejected] == ["1", "2"]
    assert {r["reason"] for r in rejected} == {"body is not JSON"}
    assert [r["job_id"] for r in proc.records("job done")] == ["good"]
    assert poison not in proc.text


def test_worker_sigterm_finishes_the_current_job_and_releases_the_rest(
    aws, sidecar, worker_image, tmp_path
):
    car = sidecar(PROFILE)
    queue, _ = aws.queue()
    aws.sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[
            {"Id": str(i), "MessageBody": _job([i], work_seconds=1.5, job_id=f"job{i}")}
            for i in range(3)
        ],
    )
    proc, _ = _spawn(worker_image, car, queue, tmp_path / "hb")
    try:
        proc.wait_record("job started")
        assert proc.sigterm() == 0
    finally:
        proc.reap()
    started = {r["job_id"] for r in proc.records("job started")}
    done = {r["job_id"] for r in proc.records("job done")}
    assert started == done and done  # the job in progress finished, none was cut short
    (released,) = proc.records("released unstarted messages")
    assert released["released"] == 3 - len(done) > 0 and released["failed"] == 0
    # Released at once (visibility 0), not after the queue's visibility timeout.
    assert aws.queue_counts(queue) == (3 - len(done), 0)


def test_worker_backs_off_on_aws_errors_then_recovers(aws, sidecar, worker_image, tmp_path):
    car = sidecar(PROFILE)
    queue, _ = aws.queue()
    proc, _ = _spawn(
        worker_image,
        car,
        queue,
        tmp_path / "hb",
        WORKER_BACKOFF_BASE_SECONDS="0.05",
        WORKER_BACKOFF_MAX_SECONDS="0.2",
    )
    try:
        proc.wait_record("started")
        aws.proxy.fail("ReceiveMessage", status=500, code="InternalError")
        failures = proc.wait_record("receive failed", count=3)
        assert {r["error"] for r in failures} == {"InternalError"}
        assert all(0 <= r["retry_in_seconds"] <= 0.2 for r in failures)
        aws.proxy.clear()
        aws.send(queue, _job([5]))
        assert proc.wait_record("job done")[0]["result"] == 5
        assert proc.sigterm() == 0
    finally:
        proc.reap()


def test_worker_without_agent_keeps_working_with_batch_size_1(aws, worker_image, tmp_path):
    """The agent is a dependency of configuration, not of the queue: jobs still run."""
    queue, _ = aws.queue()
    with refused_agent_url() as agent_url:
        proc = worker_image.spawn(
            WORK_QUEUE_URL=queue,
            WORKER_HEARTBEAT_FILE=str(tmp_path / "hb"),
            **FAST,
            CONFIG_AGENT_URL=agent_url,
            **AGENT_STUB_ENV,
        )
        try:
            aws.send(queue, _job([4, 4]))
            assert proc.wait_record("job done")[0]["result"] == 8
            assert proc.sigterm() == 0
        finally:
            proc.reap()
    (keeping,) = proc.records("keeping batch size")  # once, not once per poll
    assert keeping["batch_size"] == 1 and keeping["reason"] == "ConnectionRefusedError"


def test_worker_that_cannot_write_its_heartbeat_exits_1(worker_image, tmp_path):
    result = worker_image.run(
        WORK_QUEUE_URL=QUEUE_URL,
        **AGENT_STUB_ENV,
        WORKER_HEARTBEAT_FILE=str(tmp_path / "missing-dir" / "hb"),
    )
    assert result.returncode == 1
    assert json.loads(result.stderr.splitlines()[-1])["msg"] == "cannot write heartbeat"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WORK_QUEUE_URL": ""}, "WORK_QUEUE_URL"),
        ({"WORK_QUEUE_URL": "my-queue"}, "WORK_QUEUE_URL"),
        ({"WORKER_HEARTBEAT_FILE": "relative/hb"}, "WORKER_HEARTBEAT_FILE"),
        ({"WORKER_HEARTBEAT_MAX_AGE_SECONDS": "25"}, "WORKER_HEARTBEAT_MAX_AGE_SECONDS"),
        ({"WORKER_WAIT_TIME_SECONDS": "0"}, "WORKER_WAIT_TIME_SECONDS"),
        ({"CONFIG_AGENT_TOKEN": ""}, "CONFIG_AGENT_TOKEN"),
    ],
)
def test_worker_bad_settings_exit_2_naming_the_variable(worker_image, tmp_path, env, variable):
    base = {
        **AGENT_STUB_ENV,
        "WORK_QUEUE_URL": QUEUE_URL,
        "WORKER_HEARTBEAT_FILE": str(tmp_path / "hb"),
    }
    assert_invalid_settings(worker_image.run(**{**base, **env}), variable)


def test_worker_unknown_argument_is_a_usage_error(worker_image):
    result = worker_image.run([*worker_image.image.argv, "--nope"])
    assert result.returncode == 2 and "usage" in result.stderr


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[1]", "not a JSON object"),
        ('{"numbers": [1]}', "job_id"),
        ('{"job_id": "a", "numbers": [true]}', "numbers"),
        ('{"job_id": "a", "numbers": "12"}', "numbers"),
        ('{"job_id": "a", "numbers": [], "work_seconds": 61}', "work_seconds"),
    ],
)
def test_malformed_jobs_are_refused_with_a_reason(body, reason):
    with pytest.raises(jobs.JobError, match=reason):
        jobs.parse(body)


def test_backoff_is_capped_full_jitter():
    backoff = Backoff(base=1.0, cap=4.0)
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(delays[:1]) <= 1.0

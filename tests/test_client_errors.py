"""Failures reach the caller as one exception tree: retries for reads, never for writes, clear messages."""

from __future__ import annotations

import httpx
import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.retry import RetryPolicy
from chariot_apply.chariot.errors import (
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    WriteOutcomeUnknownError,
)
from chariot_apply.emulator.faults import EmulatorTransport, Faults
from tests.factories import FAST_RETRY, new_run

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("kind", ["429", "502", "503", "504", "drop"])
async def test_reads_are_retried(client: AsyncChariotClient, faults: Faults, kind: str) -> None:
    faults.script(kind, "GET", "/runs")
    faults.script(kind, "GET", "/runs")
    before = client.requests_sent
    assert await client.get_runs() == []
    assert client.requests_sent - before == 3
    assert faults.injected == 2


async def test_a_500_is_a_server_bug_and_not_retried(client: AsyncChariotClient, faults: Faults) -> None:
    faults.script("500", "GET", "/runs")
    before = client.requests_sent
    with pytest.raises(ServerError):
        await client.get_runs()
    assert client.requests_sent - before == 1


async def test_reads_give_up_after_the_policy_s_attempts(client: AsyncChariotClient, faults: Faults) -> None:
    for _ in range(FAST_RETRY.attempts):
        faults.script("503", "GET", "/runs")
    with pytest.raises(ServerError) as info:
        await client.get_runs()
    assert info.value.status == 503 and info.value.request_id
    assert "injected fault 503" in str(info.value) and info.value.request_id in str(info.value)


async def test_429_is_surfaced_as_rate_limited_when_it_persists(app) -> None:
    faults: Faults = app.state.faults
    faults.script("429")
    async with AsyncChariotClient("http://e", transport=EmulatorTransport(app), retry=RetryPolicy(attempts=1)) as c:
        with pytest.raises(RateLimitedError):
            await c.get_runs()


async def test_a_failed_create_is_not_retried(client: AsyncChariotClient, faults: Faults) -> None:
    blueprint_id = await client.lookup_blueprint_id("image-classifier")
    faults.script("503", "POST", "/runs")
    with pytest.raises(ServerError):
        await new_run(client, blueprint_id=blueprint_id)
    assert faults.scripted == [] and await client.get_runs() == []


async def test_a_create_whose_answer_is_lost_is_reported_as_unknown(client: AsyncChariotClient,
                                                                    faults: Faults) -> None:
    faults.script("commit-then-drop", "POST", "/runs")
    with pytest.raises(WriteOutcomeUnknownError) as info:
        await new_run(client, "maybe")
    assert "may have happened" in str(info.value) and "look" in info.value.hint
    assert [r.name for r in await client.get_runs()] == ["maybe"]  # it did happen, exactly once


async def test_unknown_route_is_plain_text_404(client: AsyncChariotClient) -> None:
    response = await client._http.get("/api/training/v2/nowhere")
    assert (response.status_code, response.text) == (404, "404 page not found")
    with pytest.raises(NotFoundError) as info:
        await client._send("GET", "/api/training/v2/nowhere", safe=True)
    assert "CHARIOT_URL" in info.value.hint


async def test_garbage_answer_is_a_transport_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login page</html>")

    async with AsyncChariotClient("http://proxy", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(TransportError, match="unexpected answer") as info:
            await c.get_runs()
    assert "CHARIOT_URL" in info.value.hint


async def test_unreachable_server() -> None:
    async with AsyncChariotClient("http://127.0.0.1:9", retry=FAST_RETRY, timeout_seconds=2) as c:
        with pytest.raises(TransportError, match="could not reach Chariot"):
            await c.get_runs()
        with pytest.raises(TransportError) as info:
            await c.delete_run("x")
    assert not isinstance(info.value, WriteOutcomeUnknownError)  # a refused connection sent nothing


async def test_random_faults_are_absorbed_by_reads(app, faults: Faults) -> None:
    faults.failure_rate, faults.failure_kinds = 0.3, ("502", "503", "drop")
    faults.rng.seed(7)
    async with AsyncChariotClient("http://e", transport=EmulatorTransport(app),
                                  retry=RetryPolicy(attempts=10, base_delay=0.0001, max_delay=0.001)) as c:
        for _ in range(30):
            assert (await c.lookup_blueprint("image-classifier")).name == "image-classifier"
    assert faults.injected > 0


async def test_a_refused_query_is_an_api_exception(client: AsyncChariotClient) -> None:
    from chariot_apply.chariot.errors import ApiException

    with pytest.raises(ApiException) as info:
        await client.get_runs(limit=5000)
    assert (type(info.value), info.value.status) == (ApiException, 400)
    assert "limit must be at most 1000" in str(info.value)
    with pytest.raises(ApiException, match="must not end with escape character"):
        await client.get_runs(name_ilikes=["oops\\"])  # a lone trailing backslash


@pytest.mark.parametrize(("status", "kind"), [(403, "PermissionDeniedError"), (409, "ConflictError"),
                                              (418, "ApiException")])
async def test_statuses_the_emulator_never_sends_are_mapped_too(status: int, kind: str) -> None:
    """403 (a Reader writing) cannot be provoked on the emulator: a stand-in server answers it."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": "user lacks training_job_create"},
                              headers={"X-Request-ID": "req-42"})

    async with AsyncChariotClient("http://chariot", transport=httpx.MockTransport(handler), retry=FAST_RETRY) as c:
        with pytest.raises(Exception) as info:
            await c.delete_run("r")
    assert type(info.value).__name__ == kind
    assert info.value.status == status and info.value.request_id == "req-42"
    if status == 403:
        assert "training_job_create" in info.value.hint


async def test_a_lost_create_is_never_matched_to_another_owners_run(client: AsyncChariotClient) -> None:
    """The look-up after a lost answer claims only a run with our whole marker, not just the same spec."""
    from chariot_apply.apply.executor import find_created
    from chariot_apply.plan.model import RunRequest
    from chariot_apply.plan.ownership import Marker, compose_notes
    from tests.factories import classifier_config, resources

    blueprint_id = await client.lookup_blueprint_id("image-classifier")
    project_id = await client.get_project_id("vision")
    request = RunRequest(name="r", version="1", project_id=project_id, blueprint_id=blueprint_id,
                         task_type="Image Classification", resources=resources(), config=classifier_config(),
                         notes=compose_notes(None, Marker("us", "0123456789abcdef")), spec_hash="0123456789abcdef")
    await new_run(client, "r", version="1", notes=compose_notes(None, Marker("them", "0123456789abcdef")))
    assert await find_created(client, request) is None
    ours = await new_run(client, "r", version="1", notes=request.notes)
    assert await find_created(client, request) == ours


async def test_a_bad_argument_is_ours_never_pydantics(client: AsyncChariotClient) -> None:
    """``create_run(name="")`` raised pydantic's own ValidationError past the tree."""
    from chariot_apply.chariot.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="name"):
        await new_run(client, "")


async def test_a_missing_blueprint_or_project_is_named_the_same_on_create_as_on_validate(
        client: AsyncChariotClient) -> None:
    from chariot_apply.chariot.errors import BlueprintDoesNotExistError, ProjectDoesNotExistError

    with pytest.raises(BlueprintDoesNotExistError):
        await client.validate_run_config(blueprint_id="no-such-blueprint", config={})
    with pytest.raises(BlueprintDoesNotExistError):
        await new_run(client, "a", blueprint_id="no-such-blueprint")
    with pytest.raises(ProjectDoesNotExistError):
        await new_run(client, "a", project_id="no-such-project")


async def test_a_missing_project_on_model_creation_is_not_called_a_missing_checkpoint(
        client: AsyncChariotClient, clock) -> None:  # type: ignore[no-untyped-def]
    from chariot_apply.chariot.errors import CheckpointDoesNotExistError, ProjectDoesNotExistError

    run_id = await new_run(client, "with-checkpoints")
    clock.advance(3600)
    (checkpoint, *_) = await client.get_checkpoints(run_ids=[run_id], statuses=["complete"])
    with pytest.raises(ProjectDoesNotExistError):
        await client.create_model_from_checkpoint(checkpoint_id=checkpoint.id, name="m", version="1.0.0",
                                                  summary="s", project_id="no-such-project")
    with pytest.raises(CheckpointDoesNotExistError):
        await client.create_model_from_checkpoint(checkpoint_id="no-such-checkpoint", name="m", version="1.0.0",
                                                  summary="s")


def test_our_exceptions_are_built_as_the_sdks_are() -> None:
    """The reference's constructors (names, order, keyword-only markers, defaults): code written against the SDK
    builds ours the same way; ours add keywords after them."""
    import inspect

    from chariot_apply.chariot.errors import ApiException, BlueprintDoesNotExistError
    from tests.sdk_reference import entries

    reference = entries()
    for ours, name in ((ApiException, "ApiException"), (BlueprintDoesNotExistError, "BlueprintDoesNotExistError")):
        documented: list[tuple[str, bool]] = []  # (name, keyword-only), every default None
        keyword_only = False
        for part in reference[f"chariot.training_v2.exceptions.{name}"].params.split(","):
            part = part.strip()
            if part == "*":
                keyword_only = True
                continue
            assert part.endswith("= None") or part.endswith("=None"), part
            documented.append((part.split(":")[0].split("=")[0].strip(), keyword_only))
        parameters = inspect.signature(ours).parameters
        assert [(n, parameters[n].kind == inspect.Parameter.KEYWORD_ONLY, parameters[n].default)
                for n, _ in documented] == [(n, k, None) for n, k in documented], name
        positional = [p.name for p in parameters.values() if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert positional == [n for n, k in documented if not k], name
    error = ApiException(404, "Not Found", body='{"error": "x"}')
    assert (error.status, error.reason, error.body) == (404, "Not Found", '{"error": "x"}')
    missing = BlueprintDoesNotExistError(None, "image-clasifier", "2.%")
    assert (missing.name, missing.version_ilike) == ("image-clasifier", "2.%") and "image-clasifier" in str(missing)


class UnreadableCreateAnswers(httpx.AsyncBaseTransport):
    """The emulator commits the create, and the answer's body arrives garbled."""

    def __init__(self, app: object) -> None:
        self.inner = EmulatorTransport(app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/runs"):
            await response.aread()
            return httpx.Response(response.status_code, content=b"\\x00garbled", request=request)
        return response


async def test_a_create_answered_with_an_unreadable_success_is_maybe_sent_and_made_once(app: object) -> None:
    from chariot_apply.apply.executor import Executor, Reporter
    from chariot_apply.plan.fetch import make_plan
    from chariot_apply.plan.model import PlanOptions
    from tests.factories import declared_run, manifest

    async with AsyncChariotClient("http://emulator", transport=UnreadableCreateAnswers(app), retry=FAST_RETRY) as c:
        with pytest.raises(WriteOutcomeUnknownError):
            await new_run(c, "garbled")
        plan = await make_plan(c, [declared_run(manifest("wanted"))], PlanOptions(owner="t"))
        result = await Executor(c, Reporter(), settle_delay=0.0).apply(plan)
        assert result.ok, result.failed
        assert [r.name for r in await c.get_runs(name_ilikes=["wanted"])] == ["wanted"]  # one, not resent

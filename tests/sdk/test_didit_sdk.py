"""PyPI didit-sdk 0.4.0 (client, models, webhook verifier, CLI), unchanged but for the base URL,
against the real service in wrangler dev (started by conftest.py).

The hosted capture is posted with httpx, as the hosted page would (a passive workflow is
answered with a burst of 8 webcam frames, never one picture); everything else goes through the
SDK. Contract: /work/shared/spec/didit-v3-contract.md (sections 1, 2, 3 and 6).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import didit
import httpx
import pytest
from didit import (
    DecisionResponse,
    Didit,
    DiditAPIError,
    DiditAuthenticationError,
    DiditNotFoundError,
    DiditPermissionError,
    RequestOptions,
    SessionStatus,
)
from didit.webhooks import verify_webhook_signature

from conftest import App, Delivery

# The person of the live clip, as a still photo: the reference given as portrait_image.
ENROL = "video/enroll_portrait_apfol_s1_t9.5s.jpg"
# Another person (LFW): live clips exist of one person only, so "another person" is a
# reference photo of someone else given as portrait_image, against the clip's live person.
OTHER = "faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg"
# 640x480 30 fps webcam MJPEG clips (150 frames): the person live, and a phone replaying them.
LIVE_CLIP = "video/live_selfie_640x480_30fps_5s.mjpeg"
REPLAY_CLIP = "video/spoof_replay_640x480_30fps_5s.mjpeg"
# The clip's 1 s windows (start = 30 * w), taken in turn by successive captures: each attempt
# is of another moment, as a real user's is.
WINDOWS = (0, 30, 60, 90, 120)
FEATURE_ARRAYS = (
    "id_verifications",
    "nfc_verifications",
    "liveness_checks",
    "face_matches",
    "poa_verifications",
    "phone_verifications",
    "email_verifications",
    "aml_screenings",
    "ip_analyses",
    "database_validations",
    "reviews",
    "warnings",
)
DIDIT_CLI = Path(sys.executable).with_name("didit")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def client(app: App) -> Didit:
    with Didit(
        api_key=app.api_key,
        base_url=app.base_url,
        webhook_secret=app.webhook_secret,
        max_retries=0,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def portrait_b64(data_dir: Path) -> str:
    return base64.b64encode((data_dir / ENROL).read_bytes()).decode("ascii")


@lru_cache(maxsize=None)
def clip_frames(path: Path) -> tuple[bytes, ...]:
    """The JPEG frames of an MJPEG clip, split on the SOI (FFD8) and EOI (FFD9) markers.

    Entropy-coded JPEG data stuffs every 0xFF byte (FF00), so FFD9 inside a frame is its end.
    """
    data = path.read_bytes()
    frames, pos = [], 0
    while (start := data.find(b"\xff\xd8", pos)) >= 0:
        end = data.find(b"\xff\xd9", start + 2)
        if end < 0:
            break
        frames.append(data[start : end + 2])
        pos = end + 2
    return tuple(frames)


def burst_of(data_dir: Path, clip: str = LIVE_CLIP, start: int = 0) -> list[bytes]:
    """8 frames of `clip`, one every 4th (about 0.13 s apart at 30 fps) from frame `start`: a
    passive capture as the hosted page takes it."""
    frames = clip_frames(data_dir / clip)
    assert len(frames) == 150, (clip, len(frames))
    return [frames[start + 4 * i] for i in range(8)]


def capture(
    app: App,
    data_dir: Path,
    session_token: str,
    clip: str = LIVE_CLIP,
    start: int = 0,
    headers: dict | None = None,
) -> dict:
    """A burst of `clip` to the hosted capture endpoint, as the hosted page posts it: one
    multipart `burst` field per frame."""
    files = [
        ("burst", (f"b{i}.jpg", jpeg, "image/jpeg"))
        for i, jpeg in enumerate(burst_of(data_dir, clip, start))
    ]
    res = httpx.post(
        f"{app.origin}/hosted/v1/{session_token}/capture",
        files=files,
        headers=headers,
        timeout=120.0,
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) >= {"session_id", "status", "retry", "attempts_left", "callback_url"}, body
    return body


def capture_until_final(app: App, data_dir: Path, session_token: str, clip: str) -> list[dict]:
    """Recaptures while the service offers a retry (face_match_max_attempts), like the page:
    each attempt a burst of the next window of the clip."""
    answers = [capture(app, data_dir, session_token, clip, WINDOWS[2])]
    while answers[-1]["retry"]:
        assert answers[-1]["status"] == "In Progress", answers
        assert answers[-1]["attempts_left"] >= 1, answers
        assert len(answers) < 10, answers
        start = WINDOWS[(2 + len(answers)) % len(WINDOWS)]
        answers.append(capture(app, data_dir, session_token, clip, start))
    left = [a["attempts_left"] for a in answers]
    assert left == sorted(left, reverse=True), answers
    return answers


@pytest.fixture(scope="module")
def enrolled(app: App, client: Didit, data_dir: Path) -> dict:
    """A user enrolled through a kyc session with a live burst: the reference for re-auth."""
    vendor = unique("sdk-enrolled")
    kyc = client.sessions.create(vendor, workflow_id=app.workflows["kyc"])
    answer = capture(app, data_dir, kyc.session_token, LIVE_CLIP, WINDOWS[0])
    assert answer["status"] == "Approved", answer
    assert answer["retry"] is False
    return {"vendor_data": vendor, "kyc_session_id": kyc.session_id}


@pytest.fixture(scope="module")
def reauth(app: App, client: Didit, data_dir: Path, enrolled: dict) -> dict:
    """The three re-authentications of the enrolled user: same person, another person, spoof.

    "same" is a live burst against the enrolled face; "other" the same live burst against a
    portrait_image of another person (the reference given at creation); "spoof" a burst of the
    phone replaying the enrolled person. Each session is finished before the next is created:
    Didit hands back an unfinished session for the same vendor_data instead of creating one.
    """
    other = {"portrait_image": base64.b64encode((data_dir / OTHER).read_bytes()).decode("ascii")}
    out = {}
    for name, clip, extra in (
        ("same", LIVE_CLIP, {}),
        ("other", LIVE_CLIP, other),
        ("spoof", REPLAY_CLIP, {}),
    ):
        s = client.sessions.create(
            enrolled["vendor_data"],
            workflow_id=app.workflows["biometric_authentication"],
            callback="https://example.com/reauth/done",
            metadata={"case": name},
            **extra,
        )
        assert s.status == SessionStatus.NOT_STARTED
        answers = capture_until_final(app, data_dir, s.session_token, clip)
        out[name] = {"session": s, "answers": answers}
    return out


# ------------------------------------------------------------------------------- health, create


def test_healthcheck_through_the_sdk(client: Didit) -> None:
    health = client.healthcheck()
    assert health.is_healthy
    assert health.status == "ok"


def test_create_biometric_session_with_portrait_image(
    app: App, client: Didit, portrait_b64: str, data_dir: Path
) -> None:
    vendor = unique("sdk-portrait")
    created = client.sessions.create(
        vendor,
        workflow_id=app.workflows["biometric_authentication"],
        portrait_image=portrait_b64,
        callback="https://example.com/cb",
        callback_method="both",
        metadata={"order": 42, "tags": ["a", "b"]},
        language="en",
        options=RequestOptions(idempotency_key=unique("idem")),
    )
    assert uuid.UUID(created.session_id)
    assert created.status == SessionStatus.NOT_STARTED
    assert created.vendor_data == vendor
    assert created.workflow_id == app.workflows["biometric_authentication"]
    assert created.callback == "https://example.com/cb"
    assert created.callback_method.value == "both"
    assert created.metadata == {"order": 42, "tags": ["a", "b"]}
    assert created.session_token and created.url
    assert created.session_token in created.url
    extra = created.model_extra or {}
    assert isinstance(extra.get("session_number"), int)
    assert extra.get("workflow_version") == 1
    assert extra.get("session_kind") == "user"

    got = client.sessions.get(created.session_id)
    assert got.session_id == created.session_id
    assert got.status == SessionStatus.NOT_STARTED
    assert got.vendor_data == vendor
    assert got.session_token == created.session_token
    assert got.metadata == created.metadata

    decision = client.sessions.get_decision(created.session_id)
    assert isinstance(decision, DecisionResponse)
    assert decision.session_id == created.session_id
    assert decision.status == SessionStatus.NOT_STARTED
    assert decision.vendor_data == vendor
    raw = decision.raw_data
    assert raw["features"] == ["LIVENESS", "FACE_MATCH"]
    assert raw["session_url"] == created.url
    assert raw["metadata"] == {"order": 42, "tags": ["a", "b"]}
    for key in FEATURE_ARRAYS:  # §1.6: [] or absent, never null (the SDK rejects null)
        assert raw.get(key, []) == [], (key, raw.get(key))
    assert decision.biometrics is None

    # The portrait given at creation is the reference: the same person's live burst passes.
    answer = capture(app, data_dir, created.session_token, LIVE_CLIP, WINDOWS[2])
    assert answer["status"] == "Approved", answer
    assert answer["callback_url"].startswith("https://example.com/cb?")
    assert f"verificationSessionId={created.session_id}" in answer["callback_url"]
    assert "status=Approved" in answer["callback_url"]
    decision = client.sessions.poll_decision(created.session_id, timeout=30)
    assert decision.status == SessionStatus.APPROVED
    assert decision.face_matches[0].status == "Approved"
    assert decision.face_matches[0].model_extra["source_image_session_id"] == created.session_id
    assert decision.biometrics.face_match is True
    assert decision.biometrics.liveness_check is True


def test_create_kyc_session_with_vendor_data(app: App, client: Didit) -> None:
    vendor = unique("sdk-kyc")
    created = client.sessions.create(vendor, workflow_id=app.workflows["kyc"])
    assert created.status == SessionStatus.NOT_STARTED
    assert created.vendor_data == vendor
    assert created.workflow_id == app.workflows["kyc"]
    got = client.sessions.get(created.session_id)
    assert (got.session_id, got.status, got.vendor_data) == (
        created.session_id,
        SessionStatus.NOT_STARTED,
        vendor,
    )
    decision = client.sessions.get_decision(created.session_id)
    assert decision.status == SessionStatus.NOT_STARTED
    assert decision.raw_data["features"] == ["LIVENESS"]
    assert decision.liveness_checks == [] and decision.face_matches == []

    # Didit's create idempotency (§1.3): an unfinished session for the same vendor_data on the
    # same workflow comes back, with callback and metadata replaced.
    again = client.sessions.create(
        vendor, workflow_id=app.workflows["kyc"], metadata={"second": True}, callback="https://e.x/2"
    )
    assert again.session_id == created.session_id
    assert again.metadata == {"second": True}
    assert again.callback == "https://e.x/2"


def test_idempotency_key_replays_the_first_create(app: App, client: Didit) -> None:
    """The SDK retries a keyed POST; the server must answer the retry with the first session
    (no vendor_data, so Didit's vendor_data rule cannot be what returns it)."""
    key = unique("sdk-idem")
    first = client.sessions.create(
        workflow_id=app.workflows["kyc"],
        metadata={"key": key},
        options=RequestOptions(idempotency_key=key),
    )
    again = client.sessions.create(
        workflow_id=app.workflows["kyc"],
        metadata={"key": key},
        options=RequestOptions(idempotency_key=key),
    )
    assert again.session_id == first.session_id
    assert again.session_token == first.session_token
    fresh = client.sessions.create(workflow_id=app.workflows["kyc"], metadata={"key": key})
    assert fresh.session_id != first.session_id
    with pytest.raises(DiditAPIError) as err:
        client.sessions.create(
            workflow_id=app.workflows["kyc"],
            metadata={"key": "another"},
            options=RequestOptions(idempotency_key=key),
        )
    assert err.value.status_code == 409


def test_biometric_session_without_any_reference_face_is_a_plain_400(
    app: App, client: Didit
) -> None:
    with pytest.raises(DiditAPIError) as err:
        client.sessions.create(
            unique("sdk-nobody"), workflow_id=app.workflows["biometric_authentication"]
        )
    assert type(err.value) is DiditAPIError  # §3.2: no dedicated subclass for 400
    assert err.value.status_code == 400


# ------------------------------------------------------------------------------------- list


def test_list_filters_by_status_vendor_data_and_workflow(
    app: App, client: Didit, data_dir: Path
) -> None:
    vendor = unique("sdk-list")
    kyc = client.sessions.create(vendor, workflow_id=app.workflows["kyc"])
    by_vendor = client.sessions.list(vendor_data=vendor)
    assert by_vendor.count == 1
    assert [r.session_id for r in by_vendor.results] == [kyc.session_id]
    assert by_vendor.results[0].status == SessionStatus.NOT_STARTED
    assert by_vendor.results[0].vendor_data == vendor
    assert by_vendor.next is None and by_vendor.previous is None

    assert client.sessions.list(vendor_data=vendor, status=SessionStatus.APPROVED).count == 0
    assert capture(app, data_dir, kyc.session_token)["status"] == "Approved"
    approved = client.sessions.list(vendor_data=vendor, status=SessionStatus.APPROVED, limit=1)
    assert [r.session_id for r in approved.results] == [kyc.session_id]
    assert approved.results[0].status == SessionStatus.APPROVED
    assert client.sessions.list(vendor_data=vendor, status="Not Started").count == 0
    # The docs' upper-case spelling is accepted too (§1.7).
    assert client.sessions.list(vendor_data=vendor, status="APPROVED").count == 1

    # Every Approved row of the application really is Approved.
    for row in client.sessions.list(status=SessionStatus.APPROVED, limit=100).results:
        assert row.status == SessionStatus.APPROVED

    bio = client.sessions.list(workflow_id=app.workflows["biometric_authentication"], limit=100)
    kycs = client.sessions.list(workflow_id=app.workflows["kyc"], limit=100)
    assert all(r.workflow_id == app.workflows["biometric_authentication"] for r in bio.results)
    assert all(r.workflow_id == app.workflows["kyc"] for r in kycs.results)
    assert kyc.session_id in {r.session_id for r in kycs.results}
    assert kyc.session_id not in {r.session_id for r in bio.results}
    assert client.sessions.list(workflow_id=str(uuid.uuid4())).count == 0

    # The other filters the SDK sends are accepted and applied (§1.7, §6 item 8).
    assert client.sessions.list(search=vendor).count == 1
    now = datetime.now(timezone.utc)
    window = client.sessions.list(
        vendor_data=vendor, date_from=now - timedelta(hours=1), date_to=now + timedelta(hours=1)
    )
    assert [r.session_id for r in window.results] == [kyc.session_id]
    assert client.sessions.list(vendor_data=vendor, date_from=now + timedelta(hours=1)).count == 0
    assert client.sessions.list(vendor_data=vendor, date_to=now - timedelta(hours=1)).count == 0
    assert client.sessions.list(vendor_data=vendor, country="ESP").count == 0  # no document yet


def test_list_pagination_with_limit_and_offset(app: App, client: Didit) -> None:
    prefix = unique("sdk-page")
    created = [
        client.sessions.create(f"{prefix}-{i}", workflow_id=app.workflows["kyc"]).session_id
        for i in range(5)
    ]
    everything = client.sessions.list(workflow_id=app.workflows["kyc"], limit=100)
    assert everything.count == len(everything.results) <= 100
    # Newest first (descending session_number).
    numbers = [r.model_extra["session_number"] for r in everything.results]
    assert numbers == sorted(numbers, reverse=True)
    assert [r.session_id for r in everything.results[:5]] == created[::-1]

    seen: list[str] = []
    offset, pages = 0, 0
    while True:
        page = client.sessions.list(workflow_id=app.workflows["kyc"], limit=2, offset=offset)
        pages += 1
        assert page.count == everything.count
        assert len(page.results) <= 2
        assert (page.previous is None) == (offset == 0), (offset, page.previous)
        if page.next is None:
            assert offset + len(page.results) == page.count
        else:
            assert len(page.results) == 2
            assert f"offset={offset + 2}" in page.next and "limit=2" in page.next
            assert app.workflows["kyc"] in page.next  # query string preserved
            assert page.next.startswith(app.base_url + "/sessions/")
        seen += [r.session_id for r in page.results]
        offset += len(page.results)
        if page.next is None:
            break
        assert pages < 100
    assert seen == [r.session_id for r in everything.results]
    assert pages == -(-everything.count // 2)

    # Past the end: an empty page, no next.
    tail = client.sessions.list(workflow_id=app.workflows["kyc"], limit=2, offset=everything.count)
    assert tail.results == [] and tail.next is None and tail.previous is not None


# ------------------------------------------------------------- update status, resubmit, PDF, delete


def test_update_status_resubmit_and_recapture(
    app: App, client: Didit, data_dir: Path, enrolled: dict
) -> None:
    vendor = unique("sdk-review")
    s = client.sessions.create(vendor, workflow_id=app.workflows["kyc"])

    # Not Started cannot be reviewed (§1.8): plain 400.
    with pytest.raises(DiditAPIError) as err:
        client.sessions.update_status(s.session_id, "Approved")
    assert type(err.value) is DiditAPIError and err.value.status_code == 400

    assert capture(app, data_dir, s.session_token)["status"] == "Approved"
    declined = client.sessions.update_status(s.session_id, "Declined", comment="looks off")
    assert declined.session_id == s.session_id
    decision = client.sessions.get_decision(s.session_id)
    assert decision.status == SessionStatus.DECLINED
    review = decision.raw_data["reviews"][-1]
    assert (review["old_status"], review["new_status"], review["note"]) == (
        "Approved",
        "Declined",
        "looks off",
    )
    # What the SDK's ReviewData reads (§1.11): the API key as reviewer, the comment as reason.
    assert decision.reviews[-1].reviewed_by == "API Client"
    assert decision.reviews[-1].decision_reason == "looks off"

    approved = client.sessions.update_status(s.session_id, SessionStatus.APPROVED)
    assert approved.session_id == s.session_id
    assert client.sessions.get(s.session_id).status == SessionStatus.APPROVED

    resubmitted = client.sessions.resubmit(s.session_id, ["feature_liveness:LIVENESS"])
    assert resubmitted.session_id == s.session_id
    assert resubmitted.requested_resubmission
    decision = client.sessions.get_decision(s.session_id)
    assert decision.status == SessionStatus.RESUBMITTED
    assert decision.requires_resubmission
    assert decision.resubmit_info is not None
    assert decision.resubmit_info.nodes == ["feature_liveness:LIVENESS"]

    # The user redoes the step on the same hosted session; the service decides it again.
    again = capture(app, data_dir, s.session_token, LIVE_CLIP, WINDOWS[2])
    assert again["status"] == "Approved", again
    assert client.sessions.get_decision(s.session_id).status == SessionStatus.APPROVED

    with pytest.raises(DiditNotFoundError):
        client.sessions.update_status(str(uuid.uuid4()), "Approved")


def test_pdf_report(app: App, client: Didit, tmp_path: Path, enrolled: dict) -> None:
    session_id = enrolled["kyc_session_id"]
    # The SDK itself checks the %PDF- magic and the content type (else a 502 DiditAPIError).
    pdf = client.sessions.generate_pdf_report(session_id)
    assert pdf.startswith(b"%PDF-")
    assert b"%%EOF" in pdf[-1024:]
    destination = tmp_path / "report.pdf"
    path = client.sessions.download_pdf_report(session_id, destination)
    assert path == destination.resolve()
    assert destination.read_bytes().startswith(b"%PDF-")
    assert oct(destination.stat().st_mode & 0o777) == oct(0o600)
    with pytest.raises(FileExistsError):
        client.sessions.download_pdf_report(session_id, destination)
    for call in (
        lambda: client.sessions.generate_pdf_report(str(uuid.uuid4())),
        lambda: client.sessions.download_pdf_report(str(uuid.uuid4()), tmp_path / "none.pdf"),
    ):
        with pytest.raises(DiditNotFoundError) as err:
            call()
        assert err.value.status_code == 404
    assert not (tmp_path / "none.pdf").exists()


def test_delete_session(app: App, client: Didit) -> None:
    vendor = unique("sdk-delete")
    s = client.sessions.create(vendor, workflow_id=app.workflows["kyc"])
    # The SDK has no delete helper; its own requestor sends the documented call (§1.9).
    res = client.requestor.request("DELETE", f"/session/{s.session_id}/delete/")
    assert res.status_code == 204
    assert res.content == b""
    with pytest.raises(DiditNotFoundError):
        client.sessions.get(s.session_id)
    with pytest.raises(DiditNotFoundError):
        client.sessions.get_decision(s.session_id)
    assert client.sessions.list(vendor_data=vendor).count == 0
    with pytest.raises(DiditNotFoundError):
        client.requestor.request("DELETE", f"/session/{s.session_id}/delete/")


# --------------------------------------------------------------------------- end to end re-auth


def test_reauth_same_person_is_approved(client: Didit, enrolled: dict, reauth: dict) -> None:
    case = reauth["same"]
    s, answers = case["session"], case["answers"]
    assert len(answers) == 1
    assert answers[0]["status"] == "Approved" and answers[0]["retry"] is False
    assert answers[0]["session_id"] == s.session_id
    assert answers[0]["callback_url"].startswith("https://example.com/reauth/done?")
    decision = client.sessions.poll_decision(s.session_id, timeout=30)
    assert decision.status == SessionStatus.APPROVED
    assert decision.vendor_data == enrolled["vendor_data"]
    assert decision.raw_data["features"] == ["LIVENESS", "FACE_MATCH"]
    live = decision.liveness_checks[0]
    assert (live.node_id, live.status, live.model_extra["method"]) == (
        "feature_liveness",
        "Approved",
        "PASSIVE",
    )
    assert 0 <= live.score <= 100
    match = decision.face_matches[0]
    assert match.status == "Approved"
    assert 0 <= match.score <= 100
    # The reference is the face enrolled by the kyc session (§1.3 stored-face lookup).
    assert match.model_extra["source_image_session_id"] == enrolled["kyc_session_id"]
    assert decision.biometrics.face_match is True
    assert decision.warning_codes == []


def test_reauth_another_person_is_declined(client: Didit, reauth: dict) -> None:
    case = reauth["other"]
    s, answers = case["session"], case["answers"]
    assert answers[-1]["status"] == "Declined" and answers[-1]["retry"] is False
    decision = client.sessions.get_decision(s.session_id)
    assert decision.status == SessionStatus.DECLINED
    assert decision.face_matches[0].status == "Declined"
    # Declined for the match, not for liveness: the burst was live, the reference another
    # person's portrait given at creation.
    assert decision.liveness_checks[0].status == "Approved"
    assert decision.face_matches[0].model_extra["source_image_session_id"] == s.session_id
    assert decision.biometrics.face_match is False
    assert decision.has_warning("LOW_FACE_MATCH_SIMILARITY")
    assert client.sessions.poll_decision(s.session_id, timeout=10).status == SessionStatus.DECLINED


def test_reauth_spoof_is_declined_for_low_liveness(client: Didit, reauth: dict) -> None:
    case = reauth["spoof"]
    s, answers = case["session"], case["answers"]
    assert answers[-1]["status"] == "Declined" and answers[-1]["retry"] is False
    decision = client.sessions.get_decision(s.session_id)
    assert decision.status == SessionStatus.DECLINED
    assert decision.liveness_checks[0].status == "Declined"
    assert decision.biometrics.liveness_check is False
    assert decision.has_warning("LOW_LIVENESS_SCORE")
    assert "LOW_LIVENESS_SCORE" in decision.warning_codes


def test_reauth_sessions_are_listed_with_their_outcome(
    app: App, client: Didit, enrolled: dict, reauth: dict
) -> None:
    page = client.sessions.list(
        vendor_data=enrolled["vendor_data"], workflow_id=app.workflows["biometric_authentication"]
    )
    got = {r.session_id: r.status for r in page.results}
    assert got == {
        reauth["same"]["session"].session_id: SessionStatus.APPROVED,
        reauth["other"]["session"].session_id: SessionStatus.DECLINED,
        reauth["spoof"]["session"].session_id: SessionStatus.DECLINED,
    }
    declined = client.sessions.list(vendor_data=enrolled["vendor_data"], status="Declined")
    assert {r.session_id for r in declined.results} == {
        reauth["other"]["session"].session_id,
        reauth["spoof"]["session"].session_id,
    }


# ---------------------------------------------------------------------------------- webhooks


def _final_webhooks(app: App, client: Didit, enrolled: dict, reauth: dict) -> dict[str, list[Delivery]]:
    """Every delivery for the enrolment and the three re-auths, once each final one is in."""
    sessions = [enrolled["kyc_session_id"]] + [c["session"].session_id for c in reauth.values()]
    out = {}
    for sid in sessions:
        final = client.sessions.get_decision(sid).status.value
        out[sid] = app.receiver.wait_for(sid, final, timeout=15.0)
    return out


def test_every_webhook_verifies_and_carries_the_final_status(
    app: App, client: Didit, enrolled: dict, reauth: dict
) -> None:
    by_session = _final_webhooks(app, client, enrolled, reauth)
    for sid, deliveries in by_session.items():
        decision = client.sessions.get_decision(sid)
        final = decision.status.value
        assert deliveries, sid
        for d in deliveries:
            assert d.path == "/didit/webhook"
            assert verify_webhook_signature(d.raw_body, d.headers, app.webhook_secret), d.headers
            payload = client.parse_webhook(d.raw_body, d.headers)
            assert payload.session_id == sid
            assert payload.webhook_type == "status.updated"
            # The session only ever went Not Started → In Progress → final.
            assert payload.status.value in {"In Progress", final}, payload.status
            assert payload.vendor_data == decision.vendor_data
            assert payload.workflow_id == decision.workflow_id
            body = d.body
            assert isinstance(body["timestamp"], int) and abs(body["timestamp"] - time.time()) <= 300
            assert isinstance(body["created_at"], int) and body["created_at"] <= body["timestamp"]
            assert d.headers["X-Timestamp"] == str(body["timestamp"])
            assert d.headers["Content-Type"].startswith("application/json")
            assert uuid.UUID(body["event_id"])
        # The status a receiver ends on, applying deliveries in arrival order, is the final one.
        assert deliveries[-1].body["status"] == final, [x.body["status"] for x in deliveries]
        finals = [d for d in deliveries if d.body["status"] == final]
        for d in finals:
            payload = client.parse_webhook(d.raw_body, d.headers)
            assert payload.decision is not None, "a decided status.updated carries the decision"
            assert payload.decision.session_id == sid
            assert payload.decision.status == decision.status
            assert payload.decision.warning_codes == decision.warning_codes
        # One event per status change; a redelivery of an event keeps its event_id.
        status_of_event: dict[str, str] = {}
        for d in deliveries:
            assert status_of_event.setdefault(d.body["event_id"], d.body["status"]) == d.body["status"]
        assert len(status_of_event) == len(set(status_of_event.values())), status_of_event


def test_spoof_webhook_decision_names_the_liveness_warning(
    app: App, client: Didit, enrolled: dict, reauth: dict
) -> None:
    sid = reauth["spoof"]["session"].session_id
    deliveries = app.receiver.wait_for(sid, "Declined")
    payload = client.parse_webhook(deliveries[-1].raw_body, deliveries[-1].headers)
    assert payload.status == SessionStatus.DECLINED
    assert payload.metadata == {"case": "spoof"}
    assert payload.decision.has_warning("LOW_LIVENESS_SCORE")


def test_tampered_or_mismatched_webhooks_are_rejected(
    app: App, client: Didit, enrolled: dict, reauth: dict
) -> None:
    sid = reauth["same"]["session"].session_id
    d = app.receiver.wait_for(sid, "Approved")[-1]
    secret = app.webhook_secret
    assert verify_webhook_signature(d.raw_body, d.headers, secret)

    tampered = d.raw_body.replace(b'"Approved"', b'"Declined"', 1)
    assert tampered != d.raw_body
    assert not verify_webhook_signature(tampered, d.headers, secret)
    with pytest.raises(didit.DiditSignatureError):
        client.parse_webhook(tampered, d.headers)
    assert not verify_webhook_signature(d.raw_body, d.headers, "whsec_not_the_secret")
    skewed = {**d.headers, "X-Timestamp": str(int(d.headers["X-Timestamp"]) + 1)}
    assert not verify_webhook_signature(d.raw_body, skewed, secret)

    # Each signature alone verifies; the simple one is HMAC of ts:session_id:status:type (§2.3).
    raw_only = {k: v for k, v in d.headers.items() if k.lower() != "x-signature-v2"}
    v2_only = {k: v for k, v in d.headers.items() if k.lower() != "x-signature"}
    assert verify_webhook_signature(d.raw_body, raw_only, secret)
    assert verify_webhook_signature(d.raw_body, v2_only, secret)
    body = d.body
    simple = f"{body['timestamp']}:{body['session_id']}:{body['status']}:{body['webhook_type']}"
    expected = hmac.new(secret.encode(), simple.encode(), hashlib.sha256).hexdigest()
    assert d.headers["X-Signature-Simple"] == expected
    assert d.headers["X-Signature"] == hmac.new(secret.encode(), d.raw_body, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------ errors


def test_missing_key_is_the_sdks_permission_error(app: App) -> None:
    # The SDK always sends x-api-key; drop it on the wire to see the server's answer.
    def drop_key(request: httpx.Request) -> None:
        del request.headers["x-api-key"]

    http = httpx.Client(event_hooks={"request": [drop_key]})
    keyless = Didit(api_key="unused", base_url=app.base_url, max_retries=0, http_client=http)
    with pytest.raises(DiditPermissionError) as err:
        keyless.sessions.list()
    assert err.value.status_code == 403
    http.close()
    raw = httpx.get(f"{app.base_url}/sessions/")
    assert raw.status_code == 403
    assert raw.json() == {"detail": "You do not have permission to perform this action."}


def test_wrong_key_is_the_sdks_authentication_error(app: App) -> None:
    wrong = Didit(api_key="fg_dev_not_a_real_key", base_url=app.base_url, max_retries=0)
    for call in (
        lambda: wrong.sessions.list(),
        lambda: wrong.sessions.get_decision(str(uuid.uuid4())),
        lambda: wrong.sessions.create("u", workflow_id=app.workflows["kyc"]),
    ):
        with pytest.raises(DiditAuthenticationError) as err:
            call()
        assert err.value.status_code == 401
    wrong.close()


def test_unknown_session_is_the_sdks_not_found_error(client: Didit) -> None:
    unknown = str(uuid.uuid4())
    for call in (
        lambda: client.sessions.get(unknown),
        lambda: client.sessions.get_decision(unknown),
        lambda: client.sessions.get_decision("not-even-a-uuid"),
    ):
        with pytest.raises(DiditNotFoundError) as err:
            call()
        assert err.value.status_code == 404


def test_malformed_create_is_a_400_api_error(app: App) -> None:
    sensitive = Didit(
        api_key=app.api_key, base_url=app.base_url, max_retries=0, capture_sensitive_response=True
    )
    for workflow_id in ("not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(DiditAPIError) as err:
            sensitive.sessions.create("u", workflow_id=workflow_id)
        assert type(err.value) is DiditAPIError
        assert err.value.status_code == 400
        assert "workflow_id" in json.loads(err.value.response_body), err.value.response_body
    sensitive.close()


# --------------------------------------------------------------------------------------- CLI


def _cli(app: App, *args: str, api_key: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DIDIT_API_KEY": api_key if api_key is not None else app.api_key,
        "DIDIT_BASE_URL": app.base_url,
        "DIDIT_WEBHOOK_SECRET": app.webhook_secret,
    }
    return subprocess.run(
        [str(DIDIT_CLI), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_doctor_passes(app: App) -> None:
    res = _cli(app, "doctor", "--json", "--strict")
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "ok"
    assert out["connectivity"] == "ok"
    assert out["authenticated"] is True
    assert out["webhook_secret_configured"] is True
    assert out["base_url"] == app.base_url

    bad = _cli(app, "doctor", "--json", api_key="fg_dev_wrong")
    assert bad.returncode != 0
    assert json.loads(bad.stdout)["error"]["code"] == "AUTHENTICATION_FAILED"


def test_cli_session_create_get_list(app: App, client: Didit) -> None:
    res = _cli(
        app, "session", "create", "--workflow-id", app.workflows["kyc"], "--vendor-data", "u", "--json"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "ok"
    assert out["session_status"] == "Not Started"
    assert out["vendor_data"] == "u"
    assert out["workflow_id"] == app.workflows["kyc"]
    assert client.sessions.get(out["session_id"]).vendor_data == "u"

    got = _cli(app, "session", "get", out["session_id"], "--decision", "--json")
    assert got.returncode == 0, got.stdout + got.stderr
    assert out["session_id"] in got.stdout

    listed = _cli(app, "session", "list", "--vendor-data", "u", "--all", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert out["session_id"] in listed.stdout


def test_cli_session_create_for_enrolled_user_uses_the_stored_face(
    app: App, enrolled: dict, reauth: dict
) -> None:
    # The CLI cannot send portrait_image: the enrolment for vendor_data is the reference (§1.3).
    res = _cli(
        app,
        "session",
        "create",
        "--workflow-id",
        app.workflows["biometric_authentication"],
        "--vendor-data",
        enrolled["vendor_data"],
        "--json",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["session_status"] == "Not Started"


def test_cli_webhook_verify_accepts_a_real_delivery(
    app: App, reauth: dict, tmp_path: Path
) -> None:
    d = app.receiver.wait_for(reauth["same"]["session"].session_id, "Approved")[-1]
    body_file = tmp_path / "body.json"
    body_file.write_bytes(d.raw_body)
    res = _cli(
        app,
        "webhook",
        "verify",
        "--signature",
        d.headers["X-Signature-V2"],
        "--timestamp",
        d.headers["X-Timestamp"],
        "--body-file",
        str(body_file),
        "--json",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["valid"] is True


def test_cli_session_pdf_and_resubmit(app: App, client: Didit, data_dir: Path, tmp_path: Path) -> None:
    vendor = unique("sdk-cli-pdf")
    s = client.sessions.create(vendor, workflow_id=app.workflows["kyc"])
    assert capture(app, data_dir, s.session_token)["status"] == "Approved"

    out = tmp_path / "cli.pdf"
    res = _cli(app, "session", "pdf", s.session_id, "-o", str(out), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    saved = json.loads(res.stdout)
    assert saved["saved_to"] == str(out.resolve())
    assert saved["bytes"] == out.stat().st_size > 0
    assert out.read_bytes().startswith(b"%PDF-")

    res = _cli(app, "session", "resubmit", s.session_id, "--nodes", "feature_liveness:LIVENESS", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert client.sessions.get(s.session_id).status == SessionStatus.RESUBMITTED


# --------------------------------------------------------------------------- adaptive step-up


def test_step_up_through_the_sdk_data_centre_escalates_and_a_known_device_skips(
    app: App, client: Didit, portrait_b64: str, data_dir: Path
) -> None:
    """The page's visit (dev.mjs believes X-Forwarded-For from loopback) is judged; the SDK
    reads Didit's ip_analyses item and the skip's approval like any other decision."""
    workflow = app.workflows["biometric_authentication_stepup"]
    device = "sdk_" + uuid.uuid4().hex[:20]
    visit = lambda ip: {"x-forwarded-for": ip, "x-facegate-device": device}  # noqa: E731

    cloud = client.sessions.create(unique("sdk-dc"), workflow_id=workflow, portrait_image=portrait_b64)
    summary = httpx.get(f"{app.origin}/hosted/v1/{cloud.session_token}", headers=visit("3.80.0.1"))
    assert summary.json()["liveness_method"] == "ACTIVE_3D"
    item = client.sessions.get_decision(cloud.session_id).ip_analyses[0]
    assert (item["is_data_center"], item["ip_country_code"]) == (True, "US")
    assert item["step_up"]["rule"] == "risky_network_new_device"

    vendor = unique("sdk-known")
    first = client.sessions.create(vendor, workflow_id=workflow, portrait_image=portrait_b64)
    home = visit("81.2.69.142")
    httpx.get(f"{app.origin}/hosted/v1/{first.session_token}", headers=home)
    answer = capture(app, data_dir, first.session_token, LIVE_CLIP, WINDOWS[2], headers=home)
    assert answer["status"] == "Approved", answer

    again = client.sessions.create(vendor, workflow_id=workflow, portrait_image=portrait_b64)
    assert httpx.get(f"{app.origin}/hosted/v1/{again.session_token}", headers=home).json()["status"] == "Approved"
    decision = client.sessions.poll_decision(again.session_id, timeout=30)
    assert decision.status == SessionStatus.APPROVED
    assert decision.liveness_checks == [] and decision.face_matches == []
    assert decision.ip_analyses[0]["step_up"]["liveness_and_face_match_ran"] is False
    assert "IP_ANALYSIS" in decision.raw_data["features"]

"""The web UI in headless Chromium (Debian's package, driven by Playwright; no browser
download): sign up, upload, timeline and verdict, playback from a window, history, delete,
errors in plain words."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from realtone_local.stack import ROOT
from tests.audio import JUNK, wav_bytes

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "screenshot-result.png"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (make install-browser)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
                # A fake microphone (a beeping tone) for the voice-note test.
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, running):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=running.api_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    # No script errors and no Content-Security-Policy violations anywhere in the flow.
    assert not [e for e in errors if "Failed to load resource" not in e], errors


def sign_up(page, password: str = "ui-password-1") -> str:
    email = f"ui-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/")
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account", exact=True).click()
    page.get_by_role("heading", name="Analyze a recording").wait_for()
    return email


def upload(page, tmp_path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    page.locator("#file-input").set_input_files(str(path))


def test_upload_timeline_playback_history_delete(page, tmp_path):
    sign_up(page)
    # The page names the detector the service runs before anything is uploaded.
    page.locator("#model-line").get_by_text("Detector: dev:tiny").wait_for()
    assert "UNTRAINED" in page.locator("#model-line").inner_text()
    upload(page, tmp_path, "interview.wav", wav_bytes(10.3, rate=44_100, channels=2))
    page.locator("#verdict-label").wait_for(timeout=60_000)
    windows = page.locator("#timeline .window")
    assert windows.count() == 3
    assert page.locator("#verdict-label").inner_text() in {
        "Sounds like a real voice",
        "Possibly synthetic",
        "Likely synthetic voice",
    }
    assert page.locator("#untrained-warning").is_visible()  # dev:tiny is untrained
    assert "Overall score" in page.locator("#verdict-score").inner_text()
    details = page.locator("#details").inner_text()
    assert "dev:tiny" in details and "Runs as" in details
    page.set_viewport_size({"width": 1200, "height": 1000})
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Clicking a window plays the audio from its start and highlights it.
    page.wait_for_function(
        "() => document.getElementById('player').readyState >= 1", timeout=20_000
    )
    windows.nth(1).click()
    page.wait_for_function("() => document.getElementById('player').currentTime >= 4.0")
    assert "playing" in (windows.nth(1).get_attribute("class") or "")
    assert "playing" not in (windows.nth(0).get_attribute("class") or "")

    page.get_by_role("link", name="History").first.click()
    item = page.locator("#history-list li", has_text="interview.wav")
    item.wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete interview.wav").click()
    item.wait_for(state="detached")
    assert page.locator("#history-empty").is_visible()


def test_the_timeline_fills_live_from_the_event_stream(page, tmp_path):
    """The first connection is answered with two windows of a ten-window file (as the
    scorer publishes them); the browser then reconnects with Last-Event-ID to the real
    stream, which sends the rest and the result."""
    import json

    streams: list[str] = []  # (Last-Event-ID is added below what Playwright sees)

    def first_two_windows(route):
        streams.append(route.request.url)
        if len(streams) > 1:
            route.continue_()
            return
        chunks = [
            {
                "chunk_id": i,
                "start_time_seconds": 4.0 * i,
                "end_time_seconds": 4.0 * i + 4,
                "score": 0.1,
                "voiced": True,
                "reason": None,
            }
            for i in range(2)
        ]
        windows = {"chunks": chunks, "progress": {"windows_done": 2, "windows_total": 10}}
        body = (
            "retry: 1500\n\n"
            "id: processing:0\nevent: status\ndata: "
            + json.dumps({"status": "processing", "filename": "long.wav"})
            + "\n\nid: processing:2\nevent: windows\ndata: "
            + json.dumps(windows)
            + "\n\n"
        )
        route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)

    page.route("**/events?token=*", first_two_windows)
    sign_up(page)
    upload(page, tmp_path, "long.wav", wav_bytes(10.3))
    page.locator("#live-timeline .window").nth(1).wait_for(timeout=30_000)
    assert page.locator("#live-timeline .window").count() == 2
    assert "2 of 10 windows" in page.locator("#result-status").inner_text()
    page.locator("#verdict-label").wait_for(timeout=60_000)
    assert len(streams) == 2 and page.locator("#timeline .window").count() == 3
    assert page.locator("#live-timeline").is_hidden()
    # The reconnection resumed after the two windows: only the third one came again.
    assert page.locator("#live-timeline .window").count() == 3


def test_the_result_still_arrives_where_event_streams_are_unavailable(page, tmp_path):
    page.add_init_script("delete window.EventSource")
    opened: list[str] = []
    page.on("request", lambda r: opened.append(r.url) if "/events" in r.url else None)
    sign_up(page)
    upload(page, tmp_path, "plain.wav", wav_bytes(6.0))
    page.locator("#verdict-label").wait_for(timeout=60_000)
    assert page.locator("#timeline .window").count() == 2
    assert opened == []


def test_several_files_at_once_fill_the_history_as_they_complete(page, tmp_path):
    sign_up(page)
    names = ["one.wav", "two.wav", "three.wav"]
    paths = []
    for i, name in enumerate(names):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(wav_bytes(3.0 + i, seed=30 + i))
    page.locator("#file-input").set_input_files([str(p) for p in paths])
    page.wait_for_url("**/#/history", timeout=60_000)
    items = page.locator("#history-list li")
    for name in names:  # each gets its verdict in the list without a reload
        item = items.filter(has_text=name)
        item.locator(".badge.real, .badge.fake, .badge.likely_fake, .badge.inconclusive").wait_for(
            timeout=60_000
        )
    assert items.count() == 3


def test_bad_file_shows_the_error_in_plain_words(page, tmp_path):
    sign_up(page)
    upload(page, tmp_path, "bad.wav", JUNK)
    status = page.locator("#result-status")
    status.get_by_text("damaged or is not really audio").wait_for(timeout=60_000)


def test_wrong_password_and_a_taken_email(page):
    email = sign_up(page, "right-password")
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.locator("#auth-error").get_by_text("Wrong email or password.").wait_for()
    # Registering a taken email tells nothing; with another password the login that follows
    # fails and says what to do.
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Password").fill("another-password")
    page.get_by_role("button", name="Create account", exact=True).click()
    page.locator("#auth-error").get_by_text("already have an account").wait_for()


def _session(page) -> dict:
    return page.evaluate("() => JSON.parse(localStorage.getItem('realtone.session'))")


def _refresh(page, token: str) -> int:
    r = page.request.post("/v1/auth/refresh", data={"refresh_token": token})
    return r.status


def test_log_out_ends_the_session_on_the_server(page):
    sign_up(page)
    refresh_token = _session(page)["refresh"]
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    assert _session(page) is None
    assert _refresh(page, refresh_token) == 401  # revoked, not only forgotten


def test_two_tabs_refreshing_at_once_stay_logged_in(page):
    sign_up(page)
    other = page.context.new_page()
    other.goto("/#/analyze")
    other.get_by_role("heading", name="Analyze a recording").wait_for()
    # From a third tab, both tabs' session gets an access token the API refuses (each tab
    # follows localStorage), so both need the one refresh token at once.
    third = page.context.new_page()
    third.goto("/health")
    third.evaluate("""() => { const s = JSON.parse(localStorage.getItem('realtone.session'));
        s.access = 'expired'; localStorage.setItem('realtone.session', JSON.stringify(s)); }""")
    third.close()
    # Refreshes are held for a moment, so the two tabs' requests would overlap.
    held, refreshes = [], []

    def hold(route):
        refreshes.append(route.request.post_data_json["refresh_token"])
        if held is None:
            route.continue_()
        else:
            held.append(route)

    page.context.route("**/v1/auth/refresh", hold)
    for tab in (page, other):
        tab.evaluate("location.hash = '#/history'")
    page.wait_for_timeout(1500)
    waiting, held = held, None
    for route in waiting:
        route.continue_()
    for tab in (page, other):
        tab.get_by_role("heading", name="History").wait_for()
        tab.locator("#history-empty").wait_for()
    # One tab refreshed under the lock; the other adopted its new pair instead of spending
    # the same token again (which would have revoked the session for both).
    assert len(refreshes) == 1, refreshes
    assert _refresh(page, _session(page)["refresh"]) == 200
    other.close()


def test_api_docs_render_under_the_csp(page):
    page.goto("/docs")
    page.locator(".swagger-ui .info .title").get_by_text("RealTone").wait_for()
    page.locator(".opblock-tag", has_text="analyses").first.wait_for()


def test_phone_width_and_keyboard(browser, running, tmp_path):
    context = browser.new_context(viewport={"width": 375, "height": 740}, base_url=running.api_url)
    page = context.new_page()
    page.goto("/")
    # Keyboard only: Tab reaches the email field, the password field and the button, in order.
    page.get_by_label("Email").wait_for()
    visited = []
    for _ in range(8):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("document.activeElement.id"))
    wanted = ["email", "password", "auth-submit"]
    assert [v for v in visited if v in wanted][:3] == wanted, visited
    page.get_by_role("button", name="Create an account").focus()
    page.keyboard.press("Enter")
    email = f"ui-{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("phone-password")
    page.get_by_label("Password").press("Enter")
    page.get_by_role("heading", name="Analyze a recording").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"page is {width}px wide at phone width"
    for control in ("Choose files", "Record a voice note"):
        assert page.get_by_text(control).is_visible()
    context.close()


def test_expired_session_is_refreshed_then_reported(page):
    sign_up(page)
    # A broken access token with a good refresh token: refreshed transparently.
    page.evaluate("""() => { const s = JSON.parse(localStorage.getItem('realtone.session'));
        s.access = 'expired'; localStorage.setItem('realtone.session', JSON.stringify(s)); }""")
    page.goto("/#/history")
    page.reload()
    page.get_by_role("heading", name="History").wait_for()
    page.locator("#history-empty").wait_for()
    # Both broken: the user is told and sent to log in.
    page.evaluate("""() => { localStorage.setItem('realtone.session', JSON.stringify(
        {email: 'x@example.com', access: 'bad', refresh: 'bad'})); }""")
    page.reload()
    page.locator("#flash").get_by_text("Your session expired, please log in again.").wait_for()
    page.get_by_role("heading", name="Log in").wait_for()


def test_record_a_voice_note(browser, running):
    """MediaRecorder's WebM/Opus goes through the same path as an uploaded file."""
    context = browser.new_context(viewport={"width": 1000, "height": 800}, base_url=running.api_url)
    context.grant_permissions(["microphone"])
    page = context.new_page()
    sign_up(page)
    page.get_by_role("button", name="Record a voice note").click()
    page.get_by_role("button", name="Stop recording").wait_for()
    page.wait_for_timeout(2500)
    assert page.locator("#record-time").inner_text().startswith("0:0")
    page.get_by_role("button", name="Stop recording").click()
    page.locator("#verdict-label, #result-status.error").first.wait_for(timeout=60_000)
    assert page.locator("#result-title").inner_text().startswith("voice-note-")
    assert page.locator("#timeline .window").count() == 1  # ~2.5 s: one window
    context.close()


def test_zero_retention_says_the_audio_is_not_kept_and_the_account_can_be_deleted(page, tmp_path):
    email = sign_up(page)
    page.get_by_role("link", name="Account").click()
    page.get_by_role("heading", name="Account", exact=True).wait_for()
    # The form is filled once GET /v1/account answers (the heading shows before that).
    expect(page.get_by_label("Days to keep audio")).to_have_value("30")
    page.get_by_label("Zero-retention: delete the audio as soon as it is analysed").check()
    page.get_by_role("button", name="Save").click()
    page.locator("#retention-state").get_by_text("Saved: zero-retention").wait_for()

    page.get_by_role("link", name="Analyze").click()
    page.locator("#retention-line").get_by_text("Zero-retention is on").wait_for()
    upload(page, tmp_path, "private.wav", wav_bytes(6.0, seed=77))
    page.locator("#verdict-label").wait_for(timeout=60_000)
    gone = page.locator("#audio-gone")
    gone.get_by_text("Audio not kept: zero-retention").wait_for()
    assert not page.locator("#player").is_visible()
    assert page.locator("#timeline .window").count() == 2  # the result is whole

    page.get_by_role("link", name="Account").click()
    page.get_by_role("heading", name="Account", exact=True).wait_for()
    expect(page.locator("#retention-zero-choice")).to_be_checked()
    asked: list[str] = []

    def confirm(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.locator("#flash").get_by_text("were deleted").wait_for()
    assert email in asked[0] and "cannot be undone" in asked[0]
    # The account is gone: logging in again fails.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("ui-password-1")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.locator("#auth-error").get_by_text("Wrong email or password.").wait_for()


def test_a_result_shows_its_webhook_deliveries(page, tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        sign_up(page)
        # The account's default endpoint, set with the page's own session.
        status = page.evaluate(
            """async (url) => {
                const s = JSON.parse(localStorage.getItem("realtone.session"));
                const r = await fetch("/v1/account", {method: "PATCH", headers: {
                    "Content-Type": "application/json", Authorization: `Bearer ${s.access}`},
                    body: JSON.stringify({webhook_url: url})});
                return r.status;
            }""",
            hook,
        )
        assert status == 200
        upload(page, tmp_path, "hooked.wav", wav_bytes(5.0, seed=8))
        page.locator("#verdict-label").wait_for(timeout=60_000)
        card = page.locator("#deliveries-card")
        card.wait_for(timeout=20_000)
        page.locator("#deliveries ol li").first.wait_for(timeout=20_000)
        text = card.inner_text()
        assert f"analysis.completed → {hook}: retrying" in text
        assert "HTTP 503" in text and "next try" in text
    finally:
        server.shutdown()
        server.server_close()


def test_speakers_get_a_colour_and_a_verdict_each_and_an_impersonation_is_flagged(page, tmp_path):
    from tests.integration.test_speakers import alternation

    sign_up(page)
    data, _ = alternation(
        ("speech-asterisk-june.flac", 0, 8),
        ("synthetic-piper-joe.flac", 0, 8),
        ("speech-asterisk-june.flac", 8, 16),
    )
    upload(page, tmp_path, "call.wav", data)
    page.locator("#verdict-label").wait_for(timeout=60_000)
    speakers = page.locator("#speakers li")
    assert speakers.count() == 2
    assert page.locator("#speakers").inner_text().count("Speaker ") == 2
    windows = page.locator("#timeline .window")
    labels = [windows.nth(i).get_attribute("data-speaker") for i in range(windows.count())]
    assert labels[0] == labels[1] == labels[4] == labels[5] != labels[2] == labels[3]
    assert "speaker" in (windows.nth(0).get_attribute("aria-label") or "")
    assert page.locator("#impersonation").is_hidden()

    # Remember a voice by name; it is listed (and can be forgotten) under Account.
    first = speakers.nth(0)
    first.get_by_role("button", name="Find the voice of speaker 0").click()
    expect(first.locator(".speaker-out")).to_contain_text("not in any other recording")
    page.once("dialog", lambda dialog: dialog.accept("June"))
    first.get_by_role("button", name="Remember the voice of speaker 0").click()
    expect(first.locator(".speaker-out")).to_contain_text("Remembered as “June”")
    result_url = page.url
    page.get_by_role("link", name="Account").first.click()
    expect(page.locator("#voices")).to_contain_text("June")
    page.get_by_role("button", name="Forget the voice June").click()
    expect(page.locator("#voices-empty")).to_be_visible()
    page.goto(result_url)
    page.locator("#verdict-label").wait_for(timeout=30_000)

    # The scorer's alert, as the result document carries it, in words a user acts on.
    import json

    def with_alert(route):
        response = route.fetch()
        doc = response.json()
        doc["summary"]["impersonation"] = {
            "voice_id": str(uuid.uuid4()),
            "name": "our CEO",
            "speaker": 1,
            "similarity": 0.93,
        }
        doc["summary"]["speakers"][1]["enrolled_voice"] = {
            "id": doc["summary"]["impersonation"]["voice_id"],
            "name": "our CEO",
            "similarity": 0.93,
        }
        route.fulfill(response=response, body=json.dumps(doc))

    page.route(
        "**/v1/analyses/*",
        lambda route: with_alert(route) if route.request.method == "GET" else route.continue_(),
    )
    page.add_init_script("delete window.EventSource")  # the result comes from the GET
    page.reload()
    alert = page.locator("#impersonation")
    alert.wait_for(timeout=30_000)
    assert "sounds like our CEO" in alert.inner_text() and "synthetic" in alert.inner_text()
    assert "sounds like our CEO (93 %)" in speakers.nth(1).inner_text()

"""In a real browser (Debian chromium): office staff sign in with TOTP, switch to Chinese, open the
dashboard, and download a numbered PDF."""

import os
import subprocess

import pytest

from qslab.core.testing import current_totp, make_user, totp_device

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def published_document():
    from qslab.core.documents import issue_document

    return issue_document(
        kind_code="designation",
        title_zh="关于命名国家质量标准实验室的决定",
        title_en="Decision on naming national quality standards laboratories",
        body_zh="正文。",
        body_en="Body.",
    )


def test_office_signs_in_with_totp_switches_to_chinese_and_downloads_a_numbered_pdf(
    live_server, page, published_document, tmp_path
):
    office = make_user("office", username="office_browser")
    device = totp_device(office)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(office.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url("**/accounts/two-factor/**")
    page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/work/")

    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("heading", name="我的工作").is_visible()

    page.goto(f"{live_server.url}{published_document.get_absolute_url()}")
    assert published_document.number in page.content()
    with page.expect_download() as download_info:
        page.locator("#pdf-zh").click()
    target = tmp_path / "document.pdf"
    download_info.value.save_as(target)
    assert target.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout
    assert published_document.number in text and "关于命名国家质量标准实验室的决定" in text.replace("\n", "")


def test_a_keyboard_user_signs_in_and_sees_the_error_next_to_the_form(live_server, page):
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("document.activeElement.name") == "username", "the first field has focus"
    page.keyboard.type("nobody")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "password"
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    alert = page.get_by_role("alert").first
    assert "correct username and password" in alert.inner_text()

"""Pages come in English and Simplified Chinese, chosen by the switcher and the user's profile."""

from django.conf import settings


def test_the_language_switcher_sets_chinese(client, db):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"}, follow=True)
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "国家质量标准实验室" in html


def test_english_is_the_default(client, db):
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html and "National Quality Standards Laboratories" in html


def test_every_ui_string_has_a_chinese_translation():
    po = settings.BASE_DIR / "qslab" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    entries = po.read_text(encoding="utf-8").split("\n\n")[1:]
    untranslated = [
        e for e in entries if 'msgstr ""' in e and "msgstr[" not in e and e.rstrip().endswith('msgstr ""')
    ]
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    assert not untranslated, f"{len(untranslated)} untranslated, first: {untranslated[0][:200]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy translations"

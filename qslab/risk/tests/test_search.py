"""Full-text search over defect patterns and incident reports (SQLite FTS5 / PostgreSQL full text)."""

from __future__ import annotations

from typing import Any

from qslab.core.testing import make_user
from qslab.risk.tests.conftest import make_report


def _refs(qs: Any) -> list[str]:
    return [r.reference for r in qs]


def test_a_chinese_query_finds_the_reports_and_the_pattern_that_mention_it(terms, users):
    from qslab.risk import search, services

    case = make_report(terms, users["client"], description="电源线绝缘层破损，插头冒烟起火。")
    make_report(terms, users["client"], description="壶盖弹开，开水烫伤手背。")
    pattern = services.promote_to_pattern(
        users["analyst"],
        [case],
        {
            "title_zh": "电热水壶电源线过热",
            "title_en": "Cord overheats",
            "product_category": terms["kettle"],
            "hazard": terms["thermal"],
        },
    )
    analyst = users["analyst"]
    assert _refs(search.search_incidents(analyst, "插头冒烟")) == [case.reference]
    assert list(search.search_patterns(analyst, "绝缘层破损")) == [pattern]  # the linked case's narrative
    assert list(search.search_patterns(analyst, "电源线 过热")) == [pattern]  # every term must match
    assert list(search.search_patterns(analyst, "电源线 滑板车")) == []


def test_an_english_word_and_a_two_character_chinese_term_both_match(terms, users):
    from qslab.risk import search

    burn = make_report(terms, users["client"], description="The spout leaked and scalded my wrist. 手腕烫伤")
    scooter = make_report(
        terms,
        users["client"],
        product_category=terms["scooter"],
        hazard=terms["fall"],
        description="Front wheel came off, fell on the pavement. 前轮脱落",
    )
    analyst = users["analyst"]
    assert _refs(search.search_incidents(analyst, "scalded")) == [burn.reference]
    assert _refs(search.search_incidents(analyst, "SCALDED wrist")) == [burn.reference]
    assert _refs(search.search_incidents(analyst, "pavement")) == [scooter.reference]
    assert _refs(search.search_incidents(analyst, "前轮")) == [scooter.reference]  # two characters: LIKE
    assert _refs(search.search_incidents(analyst, "跌落")) == [scooter.reference]  # the hazard's Chinese name
    assert _refs(search.search_incidents(analyst, "手腕 spout")) == [burn.reference]
    assert _refs(search.search_incidents(analyst, "前轮 spout")) == []


def test_results_are_ranked_by_how_well_they_match(terms, users):
    from qslab.risk import search

    padding = " The customer also described the shop, the weather and the delivery in some detail." * 6
    weak = make_report(terms, users["client"], description="One spout crack noticed." + padding)
    strong = make_report(terms, users["client"], description="Spout crack: spout split, spout leaked.")
    analyst = users["analyst"]
    assert _refs(search.search_incidents(analyst, "spout")) == [strong.reference, weak.reference]
    weak_zh = make_report(terms, users["client"], description="壶嘴漏水一次。" + "顾客还描述了天气。" * 10)
    strong_zh = make_report(terms, users["client"], description="壶嘴漏水，壶嘴漏水，又是壶嘴漏水。")
    assert _refs(search.search_incidents(analyst, "壶嘴漏水")) == [strong_zh.reference, weak_zh.reference]


def test_a_reporter_finds_his_own_reports_but_not_others_unpublished_ones(terms, users):
    from qslab.risk import search

    me, other = users["client"], make_user("client")
    mine = make_report(terms, me, description="Mine: glass jug shattered 玻璃壶身碎裂")
    theirs = make_report(terms, other, description="Theirs: glass jug shattered 玻璃壶身碎裂")
    published = make_report(
        terms,
        other,
        status="published",
        description="Published narrative glass jug shattered 玻璃壶身碎裂",
        public_summary_zh="玻璃壶身碎裂致割伤",
        public_summary_en="Glass body shattered",
    )
    assert _refs(search.search_incidents(me, "jug")) == [mine.reference]  # narrative: own only
    assert set(_refs(search.search_incidents(me, "玻璃壶身碎裂"))) == {published.reference, mine.reference}
    assert theirs.reference not in _refs(search.search_incidents(me, "碎裂"))
    assert _refs(search.search_incidents(None, "shattered")) == [published.reference]  # public summary only
    assert _refs(search.search_incidents(None, "jug")) == []
    assert len(search.search_incidents(users["analyst"], "shattered")) == 3


def test_the_index_follows_edits_deletions_and_evidence_changes(terms, users):
    from qslab.risk import search, services

    analyst = users["analyst"]
    report = make_report(terms, users["client"], description="Handle snapped off 把手断裂")
    pattern = services.promote_to_pattern(
        analyst,
        [report],
        {
            "title_zh": "把手",
            "title_en": "Handle",
            "product_category": terms["kettle"],
            "hazard": terms["thermal"],
        },
    )
    assert list(search.search_patterns(analyst, "snapped")) == [pattern]

    report.description = "Base melted 底座熔化"
    report.save()
    assert _refs(search.search_incidents(analyst, "snapped")) == []
    assert _refs(search.search_incidents(analyst, "底座熔化")) == [report.reference]
    assert list(search.search_patterns(analyst, "snapped")) == []  # the pattern's evidence text followed
    assert list(search.search_patterns(analyst, "melted")) == [pattern]

    services.save_pattern(analyst, {"title_en": "Base"}, pattern=pattern, evidence=[])
    assert list(search.search_patterns(analyst, "melted")) == []
    assert list(search.search_patterns(analyst, "Base")) == [pattern]

    pattern.evidence.add(report)
    assert list(search.search_patterns(analyst, "melted")) == [pattern]
    report.delete()
    assert _refs(search.search_incidents(analyst, "melted")) == []
    assert list(search.search_patterns(analyst, "melted")) == []
    pattern.delete()
    assert list(search.search_patterns(analyst, "Base")) == []


def test_similar_cases_put_the_reports_sharing_most_terms_first(terms, users):
    from qslab.risk import services

    me = users["client"]
    report = make_report(terms, me, brand="Aurora", description="The thermostat failed, water boiled dry")
    same_brand = make_report(terms, me, brand="Aurora", description="Lid opened")
    same_text = make_report(terms, me, brand="Other", description="Thermostat failed and boiled dry")
    plain = make_report(terms, me, brand="Other", description="Lid opened")
    make_report(terms, me, brand="Other", product_category=terms["scooter"], hazard=terms["fall"])
    similar = services.similar_reports(users["analyst"], report)
    assert [r.pk for r in similar] == [same_brand.pk, same_text.pk, plain.pk]

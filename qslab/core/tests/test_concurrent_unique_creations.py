"""Records with a unique field created twice at the same instant, on PostgreSQL: threads with their own
connections, released together by a barrier. Both pass the "already used?" check before either inserts;
the second must end as the usual refusal (or, for the year's funding rules, as an edit), never a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]


def _twice_at_once(fn: Callable[[int], Any]) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            fn(n)
            outcomes.append("ok")
        except ValidationError as exc:
            outcomes.append(f"refused: {' '.join(exc.messages)}")
        except Exception as exc:  # an unexpected error is the failure we report
            outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_first_rules_of_a_year_saved_twice_at_once_give_one_row_with_the_later_values(users):
    from qslab.funding import services
    from qslab.funding.models import FundingRules

    outcomes = _twice_at_once(lambda n: services.save_rules(users["office"], 2031, {"lag_tolerance": 10 + n}))
    assert outcomes == ["ok", "ok"], outcomes
    assert FundingRules.objects.filter(year=2031).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_industry_mapped_twice_at_once_is_mapped_once_and_the_second_is_told(users):
    from qslab.designation import services
    from qslab.designation.models import IndustryScope

    outcomes = _twice_at_once(
        lambda n: services.save_industry_scope(users["office"], {"industry": "Textile industry"})
    )
    assert outcomes[0] == "ok" and outcomes[1].startswith("refused") and "already mapped" in outcomes[1]
    assert IndustryScope.objects.filter(industry="Textile industry").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_spot_check_item_added_twice_at_once_is_added_once_and_the_second_is_told(users):
    from qslab.supervision import services
    from qslab.supervision.models import SpotCheckItem

    fields = {
        "name_zh": "运行",
        "name_en": "Operation",
        "legal_basis": "办法",
        "content": "运行",
        "method": "现场",
    }
    outcomes = _twice_at_once(lambda n: services.create_item(users["office"], code="SC-race", **fields))
    assert outcomes[0] == "ok" and outcomes[1].startswith("refused") and "already used" in outcomes[1], (
        outcomes
    )
    assert SpotCheckItem.objects.filter(code="SC-race").count() == 1

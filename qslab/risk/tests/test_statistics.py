"""Public national injury estimates from the shipped NEISS sample: estimate, CV, 95 % CI, suppression."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from qslab.risk import services
from qslab.risk import statistics as stats
from qslab.risk.tests.conftest import make_terms

pytestmark = pytest.mark.django_db


@pytest.fixture
def neiss_store(settings, tmp_path, data_dir):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    services.ingest_file(
        data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz", "neiss", data_dir / "neiss" / "codes"
    )
    make_terms()
    return settings.DUCKDB_PATH


def _engine(by, **kwargs):
    from qslab.surveillance.aggregate import national_estimates

    store = services.analytical_store()
    try:
        return national_estimates(stats._with_derived(store.records(source="neiss")), by, **kwargs).table
    finally:
        store.close()


def test_the_public_sees_estimates_by_product_with_cv_interval_and_suppressed_unstable_rows(neiss_store):
    response = Client().get(reverse("risk:statistics"), {"by": "product"})
    assert response.status_code == 200
    page = response.content.decode()
    table = response.context["table"]
    floors = next(r for r in table.rows if r.key == "1807")
    engine = _engine(["product_code"], all_products=True).set_index("product_code").loc["1807"]
    assert floors.estimate == pytest.approx(engine["estimate"]) and floors.n_records == engine["n_records"]
    assert floors.ci_lower == pytest.approx(engine["estimate"] - 1.96 * engine["se"])
    assert not floors.unstable and f"{floors.estimate:,.0f}" in page
    assert table.n_suppressed > 0
    unstable = next(r for r in table.rows[:100] if r.unstable)
    assert unstable.n_records < 20 or unstable.estimate < 1200 or unstable.cv > 0.33
    assert f"{unstable.estimate:,.0f}" not in page or unstable.estimate < 1000  # the value is not shown
    assert "estimate not shown: unstable" in page
    chart = '<figure class="card chart" id="estimates-chart"><img class="chart-img" src="data:image/svg+xml;'
    assert chart in page and "<svg" not in page


def test_age_groups_and_years_are_in_order_and_a_year_restricts_the_dates(neiss_store):
    ages = stats.national_estimate_table("age")
    assert [r.key for r in ages.rows][:6] == ["0–4", "5–14", "15–24", "25–44", "45–64", "65+"]
    years = stats.national_estimate_table("year")
    assert [r.key for r in years.rows] == ["2017", "2018", "2019", "2020", "2021"]
    in_2019 = stats.national_estimate_table("product", year=2019)
    engine = _engine(
        ["product_code"], all_products=True, start=dt.date(2019, 1, 1), end=dt.date(2019, 12, 31)
    )
    engine = engine[engine.product_code.notna()]
    assert sum(r.estimate for r in in_2019.rows) == pytest.approx(engine["estimate"].sum())
    assert next(r for r in years.rows if r.key == "2019").estimate < sum(r.estimate for r in in_2019.rows)


def test_a_product_filter_keeps_every_hospital_in_the_variance(neiss_store):
    """Filtering records first would drop hospitals without the product and understate the variance."""
    trend = stats.national_estimate_table("year", product="1807")
    engine = _engine(["year", "product_code"], all_products=True)
    engine = engine[engine.product_code == "1807"].set_index("year")
    for row in trend.rows:
        assert row.estimate == pytest.approx(engine.loc[row.key, "estimate"])
        assert row.cv == pytest.approx(engine.loc[row.key, "cv"])
    page = Client().get(reverse("risk:statistics"), {"by": "year", "product": "1807"}).content.decode()
    assert "2021" in page and 'value="1807"' in page


def test_without_neiss_records_the_page_says_so(settings, tmp_path, db):
    settings.DUCKDB_PATH = tmp_path / "empty.duckdb"
    page = Client().get(reverse("risk:statistics")).content.decode()
    assert "No NEISS records are loaded yet." in page

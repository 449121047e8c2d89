"""Ready mappings ingest the real shared data sets, with the counts their READMEs state."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from qslab.surveillance import sources
from qslab.surveillance.aggregate import count_series
from qslab.surveillance.ingest import IngestValidationError, ingest
from qslab.surveillance.store import AnalyticalStore


@pytest.fixture(scope="module")
def store(data_dir):
    """One store holding every shared data set (read-only for the tests below)."""
    store = AnalyticalStore.duckdb()
    codes = data_dir / "neiss" / "codes"
    ingest(
        store,
        data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz",
        sources.neiss_mapping(codes),
        progress=False,
    )
    ingest(
        store,
        data_dir / "fda_drug_enforcement" / "drug_enforcement_2012_2023.csv.gz",
        sources.fda_enforcement_mapping(),
        progress=False,
    )
    ingest(
        store,
        data_dir / "maude_bone_cement_2017" / "maude_bone_cement_2017.csv",
        sources.maude_mapping(),
        progress=False,
    )
    return store


def counts(table, column):
    frame = table.group_by(column).agg(n=table.count()).to_pyarrow().to_pandas()
    return dict(zip(frame[column], frame["n"], strict=True))


def test_neiss_sample_is_stored_whole_with_the_readme_counts_per_year_and_disposition(store, data_dir):
    t = store.records(source="neiss")
    assert store.count("neiss") == 10_000
    years = counts(t.mutate(year=t.event_date.year()), "year")
    assert years == {2017: 2241, 2018: 2023, 2019: 1989, 2020: 1785, 2021: 1962}
    assert counts(t, "severity") == {"1": 8747, "4": 905, "6": 143, "2": 111, "5": 87, "8": 7}
    products = counts(t, "product_code")
    assert (products["1807"], products["1842"], products["4076"]) == (865, 779, 588)
    raw = pd.read_csv(data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz", dtype=str)
    total_weight = t.weight.sum().to_pyarrow().as_py()
    assert total_weight == pytest.approx(raw["weight"].astype(float).sum(), rel=1e-12)


def test_neiss_labels_come_from_cpsc_code_tables_and_sex_codes_become_words(store):
    t = store.records(source="neiss", record_id="170102921")
    row = t.to_pyarrow().to_pylist()[0]
    assert (row["product_code"], row["product_label"]) == (
        "4076",
        "BEDS OR BEDFRAMES, OTHER OR NOT SPECIFIED",
    )
    assert (row["hazard_code"], row["hazard_label"]) == ("59", "LACERATION")
    assert (row["sex"], row["stratum"], row["psu"], row["region"]) == ("male", "M", "14", "US")
    assert row["event_date"] == dt.date(2017, 1, 1)
    assert row["weight"] == pytest.approx(87.0904)


def test_neiss_ingest_of_the_same_file_is_idempotent_and_the_1k_sample_loads_too(store, data_dir):
    codes = data_dir / "neiss" / "codes"
    again = ingest(
        store,
        data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz",
        sources.neiss_mapping(codes),
        progress=False,
    )
    assert (again.n_inserted, again.n_skipped) == (0, 10_000)
    other = AnalyticalStore.duckdb()
    report = ingest(
        other,
        data_dir / "neiss" / "neiss_sample_2014_2023_1k.csv.gz",
        sources.neiss_mapping(codes),
        progress=False,
    )
    assert report.n_inserted == 1000


def test_neiss_codes_outside_cpsc_tables_are_rejected(tmp_path, data_dir):
    raw = pd.read_csv(data_dir / "neiss" / "neiss_sample_2014_2023_1k.csv.gz", dtype=str).head(5)
    raw.loc[1, "product_1_code"] = "99999"
    raw.loc[3, "disposition_code"] = "3"
    path = tmp_path / "neiss_bad.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(IngestValidationError) as caught:
        ingest(
            AnalyticalStore.duckdb(),
            path,
            sources.neiss_mapping(data_dir / "neiss" / "codes"),
            progress=False,
        )
    assert [(p.row, p.column, p.message) for p in caught.value.problems] == [
        (2, "product_1_code", "unknown code '99999' (not in NEISS products.csv)"),
        (4, "disposition_code", "unknown code '3' (not in NEISS dispositions.csv)"),
    ]


def test_fda_enforcement_reports_give_recall_classes_and_folded_defect_types(store, data_dir):
    t = store.records(source="fda-enforcement")
    assert store.count("fda-enforcement") == 15_542
    assert counts(t, "severity") == {
        "Class II": 12_521,
        "Class I": 1_523,
        "Class III": 1_497,
        "Not Yet Classified": 1,
    }
    hazards = counts(t, "hazard_code")
    # README: "lack of assurance of sterility" 4,685 and "lack of sterility assurance" 695 (case and final
    # full stop folded), plus the synonyms "non-sterility" (111) and "lack of assurance sterility" (49).
    raw = pd.read_csv(data_dir / "fda_drug_enforcement" / "drug_enforcement_2012_2023.csv.gz", dtype=str)
    phrase = (
        raw["reason_for_recall"]
        .str.split(r"[:;]", n=1, regex=True)
        .str[0]
        .str.strip()
        .str.rstrip(". ")
        .str.lower()
    )
    sterility = {"lack of assurance of sterility", "lack of sterility assurance", "non-sterility"}
    sterility.add("lack of assurance sterility")
    assert hazards["lack of assurance of sterility"] == int(phrase.isin(sterility).sum())
    assert hazards["lack of assurance of sterility"] >= 4685 + 695
    assert hazards["labeling"] == 1175
    assert t.report_id.nunique().to_pyarrow().as_py() == 3673
    assert store.date_range("fda-enforcement") == (dt.date(2012, 6, 20), dt.date(2023, 7, 26))


def test_fda_weekly_recall_series_by_class_covers_every_report_week(store):
    series = count_series(store.records(source="fda-enforcement"), by="severity", period="week")
    assert series.units == ("Class I", "Class II", "Class III", "Not Yet Classified")
    assert series.observed.sum() == 15_542
    assert str(series.dates[0]) == "2012-06-18" and str(series.dates[-1]) == "2023-07-24"
    assert int((series.observed.sum(axis=1) > 0).sum()) == 574  # README: 574 distinct report weeks


def test_caers_pairs_are_stored_once_each_with_reports_products_and_events(data_dir):
    store = AnalyticalStore.duckdb()
    path = data_dir / "caers_supplements_2012" / "caers_supplement_product_event_2012.csv.gz"
    report = ingest(store, path, sources.caers_mapping(), progress=False)
    assert (report.n_rows, report.n_duplicates_in_file, report.n_inserted) == (20_156, 239, 19_917)
    t = store.table()
    assert t.report_id.nunique().to_pyarrow().as_py() == 3356
    assert t.product_code.nunique().to_pyarrow().as_py() == 2874
    assert t.hazard_code.nunique().to_pyarrow().as_py() == 1328
    raw = pd.read_csv(path, dtype=str).drop_duplicates()
    expected = raw["sex"].str.lower().replace({"not available": "unknown"}).value_counts().to_dict()
    assert counts(t, "sex") == expected


def test_maude_bone_cement_reports_give_monthly_series_by_event_type(store):
    t = store.records(source="maude")
    assert counts(t, "severity") == {"malfunction": 341, "injury": 182, "death": 11, "no answer provided": 1}
    series = count_series(t, by="severity", period="month")
    assert series.observed.shape == (12, 4) and series.freq == 12 and series.start == (2017, 1)
    assert series.observed.sum() == 535
    assert series.observed[:, series.units.index("death")].sum() == 11

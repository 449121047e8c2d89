"""Province-level divisions of China by GB/T 2260 code, the region key used across qslab.

The labs app keeps the full taxonomy (prefectures, versions) as editable data; this short list is the
fixed top level that organisations and authorities are validated against before that app exists.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

# code: (Chinese name, English name)
PROVINCES: dict[str, tuple[str, str]] = {
    "110000": ("北京市", "Beijing"),
    "120000": ("天津市", "Tianjin"),
    "130000": ("河北省", "Hebei"),
    "140000": ("山西省", "Shanxi"),
    "150000": ("内蒙古自治区", "Inner Mongolia"),
    "210000": ("辽宁省", "Liaoning"),
    "220000": ("吉林省", "Jilin"),
    "230000": ("黑龙江省", "Heilongjiang"),
    "310000": ("上海市", "Shanghai"),
    "320000": ("江苏省", "Jiangsu"),
    "330000": ("浙江省", "Zhejiang"),
    "340000": ("安徽省", "Anhui"),
    "350000": ("福建省", "Fujian"),
    "360000": ("江西省", "Jiangxi"),
    "370000": ("山东省", "Shandong"),
    "410000": ("河南省", "Henan"),
    "420000": ("湖北省", "Hubei"),
    "430000": ("湖南省", "Hunan"),
    "440000": ("广东省", "Guangdong"),
    "450000": ("广西壮族自治区", "Guangxi"),
    "460000": ("海南省", "Hainan"),
    "500000": ("重庆市", "Chongqing"),
    "510000": ("四川省", "Sichuan"),
    "520000": ("贵州省", "Guizhou"),
    "530000": ("云南省", "Yunnan"),
    "540000": ("西藏自治区", "Tibet"),
    "610000": ("陕西省", "Shaanxi"),
    "620000": ("甘肃省", "Gansu"),
    "630000": ("青海省", "Qinghai"),
    "640000": ("宁夏回族自治区", "Ningxia"),
    "650000": ("新疆维吾尔自治区", "Xinjiang"),
    "710000": ("台湾省", "Taiwan"),
    "810000": ("香港特别行政区", "Hong Kong"),
    "820000": ("澳门特别行政区", "Macao"),
}
NATIONAL = "000000"


def province_of(code: str) -> str:
    """The province-level code containing a GB/T 2260 code (first two digits, then zeros)."""
    return f"{code[:2]}0000"


def validate_region_code(code: str) -> None:
    """A six-digit GB/T 2260 code whose province exists (``000000`` means national)."""
    if code == NATIONAL:
        return
    if len(code) != 6 or not code.isdigit():
        raise ValidationError(
            _("A region code has six digits (GB/T 2260), got “%(code)s”."), params={"code": code}
        )
    if province_of(code) not in PROVINCES:
        raise ValidationError(_("No province has the code prefix %(prefix)s."), params={"prefix": code[:2]})


def region_name(code: str, language: str | None = None) -> str:
    if code == NATIONAL:
        return "全国" if (language or get_language() or "en").startswith("zh") else "National"
    zh, en = PROVINCES.get(province_of(code), (code, code))
    return zh if (language or get_language() or "en").startswith("zh") else en


def region_choices() -> list[tuple[str, str]]:
    return [(NATIONAL, "National / 全国")] + [(code, f"{en} / {zh}") for code, (zh, en) in PROVINCES.items()]

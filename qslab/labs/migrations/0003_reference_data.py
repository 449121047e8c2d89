"""Reference data of the labs app: document kinds of the lifecycle, and the seed taxonomies (key fields
with sub-fields, the six research priorities of Opinions II.4, industry chains, and the GB/T 2260
divisions: every province-level division and the prefectures of Jiangsu, Zhejiang, Shandong and
Guangdong). The office edits and extends them afterwards; each edit is in the change log."""

from django.db import migrations

from qslab.core.regions import PROVINCES

DOCUMENT_KINDS = [
    ("lab_construction", "筹建批复", "Construction approval", "国质标实建", True),
    ("lab_suspension", "暂停运行决定", "Suspension decision", "国质标实停", True),
    ("lab_reinstatement", "恢复运行决定", "Reinstatement decision", "国质标实复", True),
    ("lab_withdrawal", "退出决定", "Withdrawal decision", "国质标实退", True),
    ("lab_merger", "合并决定", "Merger decision", "国质标实并", True),
]

# code, zh, en, [(sub code, zh, en)]
KEY_FIELDS = [
    ("manufacturing", "高端装备制造", "High-end manufacturing", [
        ("robots", "工业机器人", "Industrial robots"),
        ("machine-tools", "数控机床", "CNC machine tools"),
        ("aerospace", "航空航天装备", "Aerospace equipment"),
        ("rail", "轨道交通装备", "Rail transit equipment"),
    ]),
    ("materials", "新材料", "New materials", [
        ("basic-materials", "先进基础材料", "Advanced basic materials"),
        ("strategic-materials", "关键战略材料", "Key strategic materials"),
        ("frontier-materials", "前沿新材料", "Frontier materials"),
    ]),
    ("it", "新一代信息技术", "Information technology", [
        ("ic", "集成电路", "Integrated circuits"),
        ("industrial-software", "工业软件", "Industrial software"),
        ("communications", "新一代通信", "Next-generation communications"),
    ]),
    ("energy-electronics", "能源电子", "Energy electronics", [
        ("photovoltaics", "光伏", "Photovoltaics"),
        ("energy-storage", "新型储能", "Energy storage"),
    ]),
    ("biomedicine", "生物医药", "Biomedicine", [
        ("medical-devices", "医疗器械", "Medical devices"),
        ("biopharma", "生物药", "Biopharmaceuticals"),
    ]),
    ("consumer-goods", "消费品", "Consumer goods", [
        ("durables", "耐用消费品", "Durable consumer goods"),
        ("childrens-products", "儿童用品", "Children's products"),
    ]),
]

PRIORITIES = [
    ("quality-policy", "质量政策体系研究", "Research on the quality policy system"),
    ("quality-basics", "质量基础研究", "Basic research on quality"),
    ("common-technologies", "质量共性技术研究", "Research on common quality technologies"),
    ("collaborative-services", "质量协同服务", "Collaborative quality services"),
    ("traditional-safety", "传统质量安全机理研究", "Research on traditional quality and safety mechanisms"),
    ("new-product-safety", "新产品安全问题研究", "Research on safety issues of new products"),
]

CHAINS = [
    ("nev", "新能源汽车", "New-energy vehicles"),
    ("ic-chain", "集成电路", "Integrated circuits"),
    ("pv-chain", "光伏", "Photovoltaics"),
    ("battery", "锂离子电池", "Lithium-ion batteries"),
    ("rail-chain", "轨道交通", "Rail transit"),
    ("medical-device-chain", "医疗器械", "Medical devices"),
]

PREFECTURES = {
    "320000": [
        ("320100", "南京市", "Nanjing"), ("320200", "无锡市", "Wuxi"), ("320300", "徐州市", "Xuzhou"),
        ("320400", "常州市", "Changzhou"), ("320500", "苏州市", "Suzhou"), ("320600", "南通市", "Nantong"),
        ("320700", "连云港市", "Lianyungang"), ("320800", "淮安市", "Huai'an"), ("320900", "盐城市", "Yancheng"),
        ("321000", "扬州市", "Yangzhou"), ("321100", "镇江市", "Zhenjiang"), ("321200", "泰州市", "Taizhou"),
        ("321300", "宿迁市", "Suqian"),
    ],
    "330000": [
        ("330100", "杭州市", "Hangzhou"), ("330200", "宁波市", "Ningbo"), ("330300", "温州市", "Wenzhou"),
        ("330400", "嘉兴市", "Jiaxing"), ("330500", "湖州市", "Huzhou"), ("330600", "绍兴市", "Shaoxing"),
        ("330700", "金华市", "Jinhua"), ("330800", "衢州市", "Quzhou"), ("330900", "舟山市", "Zhoushan"),
        ("331000", "台州市", "Taizhou (Zhejiang)"), ("331100", "丽水市", "Lishui"),
    ],
    "370000": [
        ("370100", "济南市", "Jinan"), ("370200", "青岛市", "Qingdao"), ("370300", "淄博市", "Zibo"),
        ("370400", "枣庄市", "Zaozhuang"), ("370500", "东营市", "Dongying"), ("370600", "烟台市", "Yantai"),
        ("370700", "潍坊市", "Weifang"), ("370800", "济宁市", "Jining"), ("370900", "泰安市", "Tai'an"),
        ("371000", "威海市", "Weihai"), ("371100", "日照市", "Rizhao"), ("371300", "临沂市", "Linyi"),
        ("371400", "德州市", "Dezhou"), ("371500", "聊城市", "Liaocheng"), ("371600", "滨州市", "Binzhou"),
        ("371700", "菏泽市", "Heze"),
    ],
    "440000": [
        ("440100", "广州市", "Guangzhou"), ("440200", "韶关市", "Shaoguan"), ("440300", "深圳市", "Shenzhen"),
        ("440400", "珠海市", "Zhuhai"), ("440500", "汕头市", "Shantou"), ("440600", "佛山市", "Foshan"),
        ("440700", "江门市", "Jiangmen"), ("440800", "湛江市", "Zhanjiang"), ("440900", "茂名市", "Maoming"),
        ("441200", "肇庆市", "Zhaoqing"), ("441300", "惠州市", "Huizhou"), ("441400", "梅州市", "Meizhou"),
        ("441500", "汕尾市", "Shanwei"), ("441600", "河源市", "Heyuan"), ("441700", "阳江市", "Yangjiang"),
        ("441800", "清远市", "Qingyuan"), ("441900", "东莞市", "Dongguan"), ("442000", "中山市", "Zhongshan"),
        ("445100", "潮州市", "Chaozhou"), ("445200", "揭阳市", "Jieyang"), ("445300", "云浮市", "Yunfu"),
    ],
}


def load(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    for code, zh, en, prefix, public in DOCUMENT_KINDS:
        DocumentKind.objects.get_or_create(
            code=code,
            defaults={"name_zh": zh, "name_en": en, "prefix": prefix, "pattern": "{prefix}〔{year}〕{seq}号",
                      "public_by_default": public},
        )
    KeyField = apps.get_model("labs", "KeyField")
    for order, (code, zh, en, subs) in enumerate(KEY_FIELDS, start=1):
        top, _ = KeyField.objects.get_or_create(
            code=code, defaults={"name_zh": zh, "name_en": en, "order": order * 10}
        )
        for sub_order, (sub, szh, sen) in enumerate(subs, start=1):
            KeyField.objects.get_or_create(
                code=sub, defaults={"name_zh": szh, "name_en": sen, "order": order * 10 + sub_order, "parent": top}
            )
    ResearchPriority = apps.get_model("labs", "ResearchPriority")
    for order, (code, zh, en) in enumerate(PRIORITIES, start=1):
        ResearchPriority.objects.get_or_create(code=code, defaults={"name_zh": zh, "name_en": en, "order": order})
    IndustryChain = apps.get_model("labs", "IndustryChain")
    for order, (code, zh, en) in enumerate(CHAINS, start=1):
        IndustryChain.objects.get_or_create(code=code, defaults={"name_zh": zh, "name_en": en, "order": order})
    Region = apps.get_model("labs", "Region")
    for code, (zh, en) in PROVINCES.items():
        province, _ = Region.objects.get_or_create(
            code=code, defaults={"name_zh": zh, "name_en": en, "level": "province"}
        )
        for pcode, pzh, pen in PREFECTURES.get(code, []):
            Region.objects.get_or_create(
                code=pcode, defaults={"name_zh": pzh, "name_en": pen, "level": "prefecture", "parent": province}
            )


class Migration(migrations.Migration):
    dependencies = [("labs", "0002_registry_taxonomies_plans"), ("core", "0002_document_kinds")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]

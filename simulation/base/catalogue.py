"""The simulated telco's catalogue: products, segments and the segment x product matrix,
offer acceptance by product and segment, and the arrays derived from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.base.numeric import I64, Bool, choice

__all__ = [
    "ACCEPT",
    "DISCOUNTS",
    "DISCOUNT_W",
    "ENTRY_TIER",
    "FAMILIES",
    "FAMILY_P",
    "FAM_TARGETED",
    "MAX_TIER",
    "N_FAM",
    "N_SEG",
    "PRICE_CENTS",
    "PRODUCTS",
    "PROD_OF",
    "P_CODES",
    "P_FAMILY",
    "P_TIER",
    "SEGMENTS",
    "SEG_B2B",
    "SEG_DND",
    "SEG_EFFECT",
    "SEG_HAZARD",
    "SEG_IDX",
    "SEG_REACH",
    "SEG_STRESS",
    "TARGETED",
    "TIER_TARGETED",
    "Product",
    "Segment",
    "revenue_cents",
]


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    family: str
    tier: int
    price: float
    margin: float  # fraction of price


@dataclass(frozen=True)
class Segment:
    code: str
    name: str
    b2b: bool
    share: float  # within its customer type
    targets: tuple[str, ...]
    family_p: dict[str, float]  # probability of holding the family at signup
    hazard: float
    effect: float  # on log |call effect|
    dnd: float  # on the do-not-disturb logit
    reach: float  # on the logit of being reached by a call
    stress: float  # shift of financial stress


FAMILIES = ("MOBILE", "BROADBAND", "TV", "ADDON", "BUSINESS")
PRODUCTS: tuple[Product, ...] = (
    Product("MOB_S", "Mobile S 5 GB", "MOBILE", 1, 19.00, 0.45),
    Product("MOB_M", "Mobile M 25 GB", "MOBILE", 2, 32.00, 0.50),
    Product("MOB_L", "Mobile L Unlimited", "MOBILE", 3, 49.00, 0.55),
    Product("BB_100", "Fiber 100", "BROADBAND", 1, 35.00, 0.35),
    Product("BB_500", "Fiber 500", "BROADBAND", 2, 52.00, 0.40),
    Product("BB_1G", "Fiber 1 Gig", "BROADBAND", 3, 75.00, 0.45),
    Product("TV_BASIC", "TV Essentials", "TV", 1, 22.00, 0.25),
    Product("TV_PREMIUM", "TV Premium + Sports", "TV", 2, 45.00, 0.30),
    Product("ADD_PROTECT", "Device Protection", "ADDON", 1, 15.00, 0.70),
    Product("ADD_SECURE", "Protect Plus (device + home security)", "ADDON", 2, 25.00, 0.65),
    Product("BIZ_FIBER", "Business Fiber 1 Gig", "BUSINESS", 1, 89.00, 0.50),
    Product("CLOUD_PBX", "Cloud PBX bundle (fiber + hosted PBX)", "BUSINESS", 2, 119.00, 0.55),
)
SEGMENTS: tuple[Segment, ...] = (
    Segment(
        code="B2C_YOUNG",
        name="Young singles and couples",
        b2b=False,
        share=0.26,
        targets=("MOB_S", "MOB_M", "MOB_L", "BB_100", "BB_500", "TV_BASIC", "ADD_PROTECT"),
        family_p={"MOBILE": 0.9, "BROADBAND": 0.45, "TV": 0.15, "ADDON": 0.25},
        hazard=0.35,
        effect=-0.9,
        dnd=0.9,
        reach=-0.4,
        stress=0.3,
    ),
    Segment(
        code="B2C_FAMILY",
        name="Families",
        b2b=False,
        share=0.36,
        targets=(
            "MOB_M",
            "MOB_L",
            "BB_100",
            "BB_500",
            "BB_1G",
            "TV_BASIC",
            "TV_PREMIUM",
            "ADD_PROTECT",
            "ADD_SECURE",
        ),
        family_p={"MOBILE": 0.75, "BROADBAND": 0.8, "TV": 0.5, "ADDON": 0.3},
        hazard=0.0,
        effect=0.15,
        dnd=0.0,
        reach=0.0,
        stress=0.0,
    ),
    Segment(
        code="B2C_SENIOR",
        name="Seniors",
        b2b=False,
        share=0.22,
        targets=(
            "MOB_S",
            "MOB_M",
            "BB_100",
            "BB_500",
            "TV_BASIC",
            "TV_PREMIUM",
            "ADD_PROTECT",
            "ADD_SECURE",
        ),
        family_p={"MOBILE": 0.6, "BROADBAND": 0.6, "TV": 0.65, "ADDON": 0.25},
        hazard=-0.35,
        effect=0.55,
        dnd=0.0,
        reach=0.5,
        stress=-0.2,
    ),
    Segment(
        code="B2C_PREMIUM",
        name="Premium households",
        b2b=False,
        share=0.16,
        targets=("MOB_L", "BB_500", "BB_1G", "TV_PREMIUM", "ADD_SECURE"),
        family_p={"MOBILE": 0.8, "BROADBAND": 0.85, "TV": 0.6, "ADDON": 0.45},
        hazard=-0.15,
        effect=-0.1,
        dnd=0.5,
        reach=0.0,
        stress=-0.3,
    ),
    Segment(
        code="B2B_SMALL",
        name="Small business",
        b2b=True,
        share=0.75,
        targets=("MOB_S", "MOB_M", "MOB_L", "BB_500", "ADD_PROTECT", "BIZ_FIBER", "CLOUD_PBX"),
        family_p={"MOBILE": 0.8, "BROADBAND": 0.55, "ADDON": 0.2, "BUSINESS": 0.35},
        hazard=0.15,
        effect=0.3,
        dnd=0.0,
        reach=0.0,
        stress=0.1,
    ),
    Segment(
        code="B2B_MID",
        name="Mid-size business",
        b2b=True,
        share=0.25,
        targets=("MOB_M", "MOB_L", "ADD_SECURE", "BIZ_FIBER", "CLOUD_PBX"),
        family_p={"MOBILE": 0.85, "ADDON": 0.3, "BUSINESS": 0.85},
        hazard=-0.45,
        effect=0.1,
        dnd=0.6,
        reach=-0.3,
        stress=-0.3,
    ),
)
# offer acceptance: base logit per product and segment affinities
_ACCEPT_BASE = {
    "MOB_S": -3.4,
    "MOB_M": -3.1,
    "MOB_L": -3.2,
    "BB_100": -3.3,
    "BB_500": -3.1,
    "BB_1G": -3.3,
    "TV_BASIC": -3.1,
    "TV_PREMIUM": -3.4,
    "ADD_PROTECT": -2.7,
    "ADD_SECURE": -3.0,
    "BIZ_FIBER": -3.2,
    "CLOUD_PBX": -3.2,
}
_ACCEPT_AFFINITY = {
    ("B2C_YOUNG", "MOB_L"): 0.3,
    ("B2C_YOUNG", "ADD_PROTECT"): 0.2,
    ("B2C_FAMILY", "TV_PREMIUM"): 0.3,
    ("B2C_FAMILY", "BB_1G"): 0.2,
    ("B2C_FAMILY", "ADD_SECURE"): 0.2,
    ("B2C_SENIOR", "ADD_SECURE"): 0.3,
    ("B2C_SENIOR", "TV_PREMIUM"): 0.2,
    ("B2C_PREMIUM", "BB_1G"): 0.3,
    ("B2B_SMALL", "BIZ_FIBER"): 0.2,
    ("B2B_MID", "CLOUD_PBX"): 0.3,
}


N_FAM = len(FAMILIES)
MAX_TIER = 3
P_CODES = [p.code for p in PRODUCTS]
PRICE_CENTS = np.array([round(p.price * 100) for p in PRODUCTS], dtype=np.int64)
# product index of (family, tier); -1 where no such product
PROD_OF = np.full((N_FAM, MAX_TIER + 2), -1, dtype=np.int64)
for _i, _p in enumerate(PRODUCTS):
    PROD_OF[FAMILIES.index(_p.family), _p.tier] = _i
P_FAMILY = np.array([FAMILIES.index(p.family) for p in PRODUCTS], dtype=np.int64)
P_TIER = np.array([p.tier for p in PRODUCTS], dtype=np.int64)
N_SEG = len(SEGMENTS)
# targeted[s, p]
TARGETED = np.array([[p.code in s.targets for p in PRODUCTS] for s in SEGMENTS], dtype=bool)
# targeted tier in family: [s, f, tier]
TIER_TARGETED: Bool = np.zeros((N_SEG, N_FAM, MAX_TIER + 2), dtype=bool)
for _s in range(N_SEG):
    for _i in range(len(PRODUCTS)):
        if TARGETED[_s, _i]:
            TIER_TARGETED[_s, P_FAMILY[_i], P_TIER[_i]] = True
FAM_TARGETED: Bool = np.any(TIER_TARGETED, axis=2)
ENTRY_TIER: I64 = np.where(FAM_TARGETED, TIER_TARGETED.argmax(axis=2), 0)
FAMILY_P = np.array([[s.family_p.get(f, 0.0) for f in FAMILIES] for s in SEGMENTS])
SEG_HAZARD = np.array([s.hazard for s in SEGMENTS])
SEG_EFFECT = np.array([s.effect for s in SEGMENTS])
SEG_DND = np.array([s.dnd for s in SEGMENTS])
SEG_REACH = np.array([s.reach for s in SEGMENTS])
SEG_STRESS = np.array([s.stress for s in SEGMENTS])
SEG_B2B = np.array([s.b2b for s in SEGMENTS])
SEG_IDX = {s.code: i for i, s in enumerate(SEGMENTS)}
ACCEPT = np.array(
    [
        [_ACCEPT_BASE[p.code] + _ACCEPT_AFFINITY.get((s.code, p.code), 0.0) for p in PRODUCTS]
        for s in SEGMENTS
    ]
)
DISCOUNTS = np.array([0.0, 0.05, 0.10, 0.15, 0.25])
DISCOUNT_W = np.array([0.55, 0.15, 0.15, 0.10, 0.05])


def revenue_cents(rng: np.random.Generator, prod: I64, b2b: Bool) -> I64:
    disc = DISCOUNTS[choice(rng, DISCOUNT_W, len(prod))] + np.where(b2b, 0.05, 0.0)
    return np.round(PRICE_CENTS[prod] * (1.0 - disc)).astype(np.int64)

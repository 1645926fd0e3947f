"""The simulated world: a product catalog, stores around the world, and their daily stock.

Faker is slow per call (tens of microseconds), so it is only used while the world is built,
to draw small pools of city and family names per locale; everything per row afterwards is
plain `random.Random` arithmetic over precomputed lists.

Every random stream is seeded from the run's seed and a label (`random.Random(str)` hashes
the string with SHA-512, independent of PYTHONHASHSEED), and each store has its own stream,
so the same seed gives the same world in any process.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

from faker import Faker

# --- the catalog ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A department: its brands, and product types with the sizes each comes in.

    `template` makes a product name from brand, model line, type and size. Templates with
    `, {size}` give names with commas; inch sizes give names with double quotes.
    """

    name: str
    brands: tuple[str, ...]
    products: tuple[tuple[str, tuple[str, ...]], ...]
    template: str
    par: int  # typical shelf stock of one product of this category


MODEL_LINES: tuple[str, ...] = (
    "Classic", "Pro", "Lite", "Max", "Mini", "Plus", "Eco", "Prime", "Air", "Ultra",
    "Smart", "Nova", "Vita", "Série 5", "Edition 2", "Sport", "Home", "Studio", "Urban", "Zen",
)  # fmt: skip

CATEGORIES: tuple[Category, ...] = (
    Category(
        "kitchen",
        ("Acme", "Kessler", "Mörk", "Hoshi", "Brisa", "Fénix", "Tavola", "Kochwerk", "Yıldız",
         "青山"),
        (("Kettle", ("1.0 l", "1.7 l")), ("Toaster", ("2-slot", "4-slot")),
         ("Blender", ("600 W", "1200 W")), ("Espresso Machine", ("15 bar", "19 bar")),
         ("Frying Pan", ("24 cm", "28 cm", "32 cm")), ("Chef's Knife", ("15 cm", "20 cm")),
         ("Pizza Stone", ('13"', '15"')), ("Food Storage Set", ("5 pcs", "10 pcs", "24 pcs"))),
        "{brand} {line} {product}, {size}",
        8,
    ),
    Category(
        "electronics",
        ("Zeta", "Lumen", "Kōdo", "Voltra", "Nordlys", "Pixelia", "Sonoro", "한빛", "Ampère",
         "Tecnó"),
        (("TV", ('43"', '55"', '65"')), ("Monitor", ('24"', '27"', '32"')),
         ("Laptop", ('13"', '14"', '16"')), ("Tablet", ('8"', '11"')),
         ("Headphones", ("wired", "wireless")), ("Soundbar", ("2.1", "5.1")),
         ("Power Bank", ("10,000 mAh", "20,000 mAh")), ("USB-C Cable", ("1 m", "2 m"))),
        "{brand} {product} {line} {size}",
        4,
    ),
    Category(
        "grocery",
        ("Bella Terra", "Nordkorn", "Dolce Vita", "Sol y Mar", "Çiftlik", "Maison Dupré",
         "Sakura Foods", "Verde", "Ganga", "Hütte"),
        (("Coffee Beans", ("250 g", "500 g", "1 kg")), ("Olive Oil", ("500 ml", "1 l")),
         ("Basmati Rice", ("1 kg", "5 kg")), ("Dark Chocolate", ("70%", "85%")),
         ("Green Tea", ("20 bags", "50 bags")), ("Pasta", ("500 g", "1 kg")),
         ("Honey", ("250 g", "500 g")), ("Sparkling Water", ("6 x 1 l", "12 x 0.5 l"))),
        "{brand} {line} {product}, {size}",
        60,
    ),
    Category(
        "apparel",
        ("Ropa", "Kleid", "Moda Viva", "Hanami", "Étoile", "Urbano", "Nordvik", "Şık", "Linho",
         "Tokyo Line"),
        (("T-Shirt", ("S", "M", "L", "XL")), ("Jeans", ("W30 L32", "W32 L32", "W34 L34")),
         ("Hoodie", ("S", "M", "L")), ("Sneakers", ("EU 38", "EU 42", "EU 45")),
         ("Rain Jacket", ("M", "L")), ("Wool Socks", ("3-pack", "5-pack")),
         ("Cap", ("one size",)), ("Scarf", ("wool", "cotton"))),
        "{brand} {line} {product}, size {size}",
        12,
    ),
    Category(
        "beauty",
        ("Belle", "Schön", "Sève", "Kirei", "Aurora", "Güzel", "Flor", "Lótus", "Pura",
         "Mélodie"),
        (("Shampoo", ("250 ml", "500 ml")), ("Hand Cream", ("50 ml", "100 ml")),
         ("Sunscreen SPF 50", ("50 ml", "200 ml")), ("Lip Balm", ("4.8 g",)),
         ("Face Serum", ("30 ml",)), ("Body Lotion", ("200 ml", "400 ml")),
         ("Toothpaste", ("75 ml", "125 ml")), ("Shower Gel", ("250 ml", "750 ml"))),
        "{brand} {line} {product}, {size}",
        25,
    ),
    Category(
        "home",
        ("Casa", "Heimat", "Maison", "Yuva", "Lar Doce", "Hygge", "Kasa", "Domus", "Lumière",
         "宜家居"),
        (("Bath Towel", ("50 x 100 cm", "70 x 140 cm")),
         ("Duvet", ("135 x 200 cm", "155 x 220 cm")),
         ("LED Bulb", ("E27 9 W", "E14 5 W", "GU10 4 W")), ("Scented Candle", ("vanilla", "cedar")),
         ("Storage Box", ("20 l", "45 l")), ("Picture Frame", ('5 x 7"', '8 x 10"')),
         ("Doormat", ("40 x 60 cm",)), ("Wall Clock", ("30 cm", "40 cm"))),
        "{brand} {line} {product}, {size}",
        10,
    ),
    Category(
        "toys",
        ("Brinquedo", "Spielzeit", "Jouet", "Oyun", "Kiddo", "Tanuki", "Piñata", "Lumo",
         "Bloco", "Kinder"),
        (("Building Blocks", ("100 pcs", "500 pcs", "1000 pcs")),
         ("Puzzle", ("500 pcs", "1000 pcs")),
         ("Plush Bear", ("25 cm", "40 cm")), ("Toy Car", ("1:24", "1:43")),
         ("Board Game", ("2-4 players", "2-6 players")), ("Kite", ("delta", "box")),
         ("Crayons", ("12 colours", "24 colours")), ("Yo-Yo", ("classic",))),
        "{brand} {line} {product} ({size})",
        10,
    ),
    Category(
        "tools",
        ("Werkmann", "Forja", "Outil", "Alet", "Daiku", "Ferro", "Hammerkopf", "Steelo",
         "Tecla", "Björk"),
        (("Cordless Drill", ("12 V", "18 V")), ("Screwdriver Set", ("6 pcs", "32 pcs")),
         ("Tape Measure", ("5 m", "8 m")), ("Claw Hammer", ("450 g", "600 g")),
         ("Spirit Level", ("40 cm", "60 cm")), ("Socket Set", ('1/4"', '1/2"')),
         ("Work Gloves", ("M", "L", "XL")), ("Utility Knife", ("18 mm",))),
        "{brand} {line} {product}, {size}",
        8,
    ),
    Category(
        "sports",
        ("Atleta", "Sprint", "Gipfel", "Vague", "Koşu", "Yama", "Praia", "Corsa", "Fjäll",
         "Dynamo"),
        (("Yoga Mat", ("4 mm", "6 mm")), ("Water Bottle", ("500 ml", "750 ml", "1 l")),
         ("Football", ("size 4", "size 5")), ("Tennis Balls", ("3-pack", "4-pack")),
         ("Dumbbell", ("2 kg", "5 kg", "10 kg")), ("Bike Helmet", ("M", "L")),
         ("Swim Goggles", ("junior", "adult")), ("Jump Rope", ("2.8 m",))),
        "{brand} {line} {product}, {size}",
        8,
    ),
    Category(
        "stationery",
        ("Papiro", "Schreib", "Cahier", "Kalem", "Washi", "Tinta", "Nota", "Folio", "Pluma",
         "Bürokrat"),
        (("Notebook", ("A5", "A4")), ("Ballpoint Pens", ("4-pack", "10-pack")),
         ("Sticky Notes", ('3 x 3"', '3 x 5"')), ("Highlighters", ("4 colours", "6 colours")),
         ("Stapler", ("mini", "desk")), ("Envelopes", ("C6, 50 pcs", "DL, 100 pcs")),
         ("Printer Paper", ("500 sheets", "2500 sheets")), ("Glue Stick", ("21 g", "40 g"))),
        "{brand} {line} {product}, {size}",
        40,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """Every product the world knows, with the typical shelf stock of each."""

    names: tuple[str, ...]
    pars: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)


CATALOG_SIZE = sum(
    len(c.brands) * len(MODEL_LINES) * sum(len(sizes) for _, sizes in c.products)
    for c in CATEGORIES
)


def build_catalog() -> Catalog:
    """brands x model lines x product types x sizes: about 45,000 distinct, fixed names."""
    names: list[str] = []
    pars: list[int] = []
    for category in CATEGORIES:
        for brand in category.brands:
            for line in MODEL_LINES:
                for product, sizes in category.products:
                    for size in sizes:
                        fields = {"brand": brand, "line": line, "product": product, "size": size}
                        names.append(category.template.format_map(fields))
                        pars.append(category.par)
    return Catalog(tuple(names), tuple(pars))


# --- stores ---------------------------------------------------------------------------------

# locale: (weight, how a store is named). {family} is a family name, {city} a city.
LOCALES: dict[str, tuple[int, str]] = {
    "en_US": (3, "{family} Market {city}"),
    "de_DE": (2, "{family} Markt {city}"),
    "fr_FR": (2, "Épicerie {family} {city}"),
    "es_MX": (2, "Tienda {family} {city}"),
    "pt_BR": (2, "Mercado {family} {city}"),
    "tr_TR": (1, "{family} Market {city}"),
    "ja_JP": (2, "{family}ストア {city}"),
    "zh_CN": (2, "{family}超市 {city}"),
    "ko_KR": (1, "{family}마트 {city}"),
    "hi_IN": (1, "{family} स्टोर {city}"),
}
POOL_SIZE = 150  # faker draws per locale and field: enough variety, bounded build time
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Store:
    """One store: the name in its CSV rows, an ASCII slug for keys, and its assortment."""

    name: str
    slug: str
    locale: str
    city: str
    warehouse: bool  # a warehouse stocks a much larger assortment (the 'large' messy mode)
    items: tuple[int, ...]  # catalog indices, in the order its snapshots list them


def _clean(text: str) -> str:
    """One line of text with single spaces: faker output becomes a safe CSV key."""
    return " ".join(text.split())


def _ascii_slug(text: str, limit: int = 24) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", folded.lower()).strip("-")[:limit].strip("-")


def _pools(locale: str, seed: int, size: int) -> tuple[list[str], list[str]]:
    fake = Faker(locale)
    fake.seed_instance(f"{seed}:faker:{locale}")
    cities = [_clean(fake.city()) for _ in range(size)]
    families = [_clean(fake.last_name()) for _ in range(size)]
    return cities, families


def build_stores(
    count: int, seed: int, assortment: int, warehouse_rate: float, catalog_size: int
) -> list[Store]:
    """`count` stores with unique names and slugs; each has its own sampled assortment."""
    rng = random.Random(f"{seed}:stores")
    warehouses = random.Random(f"{seed}:warehouses")
    locales = list(LOCALES)
    weights = [LOCALES[name][0] for name in locales]
    chosen = rng.choices(locales, weights, k=count)
    needed = {name: chosen.count(name) for name in locales}
    pools = {
        name: _pools(name, seed, min(POOL_SIZE, needed[name])) for name in locales if needed[name]
    }
    large = large_assortment(assortment, catalog_size)
    width = max(4, len(str(count - 1)))
    used: set[str] = set()
    stores: list[Store] = []
    for index, locale in enumerate(chosen):
        cities, families = pools[locale]
        city = rng.choice(cities)
        base = LOCALES[locale][1].format(family=rng.choice(families), city=city)
        name, suffix = base, 2
        while name in used:  # the store name is the table's partition key: keep it unique
            name, suffix = f"{base} {suffix}", suffix + 1
        used.add(name)
        slug = f"{locale[:2]}-{_ascii_slug(city) or 'store'}-{index:0{width}d}"
        # Its own stream, so turning the mode on does not rename the other stores.
        warehouse = warehouse_rate > 0 and warehouses.random() < warehouse_rate
        size = large if warehouse else assortment
        # Each store's own stream: its assortment does not depend on the stores before it.
        items = tuple(random.Random(f"{seed}:assortment:{index}").sample(range(catalog_size), size))
        stores.append(Store(name, slug, locale, city, warehouse, items))
    return stores


LARGE_FACTOR = 40  # a warehouse lists up to this many times a store's rows ...
LARGE_CAP = 20_000  # ... but at most this many (or `rows`, when that is already larger)


def large_assortment(rows: int, catalog_size: int) -> int:
    """How many items a warehouse lists, given a store's `rows`."""
    return min(rows * LARGE_FACTOR, max(LARGE_CAP, rows), catalog_size)


# --- day-by-day stock -----------------------------------------------------------------------


class StoreStock:
    """One store's counts, advanced a day at a time.

    Per in-stock item and day: it runs out with probability `stockout_rate`; otherwise sales
    take up to a quarter of its typical stock but never the last unit (so running out happens
    at exactly the configured rate), and a delivery of its typical stock arrives half the
    time once it is below a third of it. A sold-out item comes back with probability
    `restock_rate`. Day 0 starts each item at 0 with probability `stockout_rate`.
    """

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        seed: int,
        index: int,
        stockout_rate: float,
        restock_rate: float,
    ) -> None:
        self._rng = random.Random(f"{seed}:stock:{index}")
        self._stockout = stockout_rate
        self._restock = restock_rate
        rnd = self._rng.random
        scale = 10 if store.warehouse else 1
        # A store's typical stock of an item: the category's par, scaled 0.5x to 2x.
        self.pars = [
            max(1, int(catalog.pars[i] * scale * (0.5 + 1.5 * rnd()))) for i in store.items
        ]
        self.counts = [0 if rnd() < stockout_rate else 1 + int(rnd() * 2 * p) for p in self.pars]

    def advance(self) -> list[int]:
        """Move on one day; return the new counts (the list is reused: copy to keep it)."""
        rnd = self._rng.random
        stockout, restock = self._stockout, self._restock
        counts, pars = self.counts, self.pars
        for i, count in enumerate(counts):
            par = pars[i]
            if count:
                if rnd() < stockout:
                    counts[i] = 0
                    continue
                count -= int(rnd() * (par // 4 + 2))
                if count < 1:
                    count = 1
                if count * 3 <= par and rnd() < 0.5:
                    count += par
                counts[i] = count
            elif rnd() < restock:
                counts[i] = par + int(rnd() * par)
        return counts


# --- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """The catalog and the stores, built once per run."""

    catalog: Catalog
    stores: tuple[Store, ...]

    def item_names(self, store: Store) -> list[str]:
        names = self.catalog.names
        return [names[i] for i in store.items]


def build_world(
    seed: int, stores: int, rows: int, warehouse_rate: float = 0.0, catalog: Catalog | None = None
) -> World:
    """Build the catalog (unless given) and `stores` stores of `rows` items each."""
    catalog = catalog or build_catalog()
    return World(catalog, tuple(build_stores(stores, seed, rows, warehouse_rate, len(catalog))))
